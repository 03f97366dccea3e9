"""Attention heatmaps as images: one matplotlib figure per layer of a sentence's attention weights, rendered
fast enough to log after every validation (TensorBoardExtras)."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def heatmap_figure(layers: torch.Tensor | list[torch.Tensor], tokens: list[str], title: str) -> Figure:
    """A matplotlib Figure of attention weights, (heads, T, T) for one layer or a list of them (a row per
    layer): in each map rows are queries, columns are keys.

    A causal layer shows an empty upper triangle: no token attends to a later one.
    """
    layers = [layers] if isinstance(layers, torch.Tensor) else layers
    num_layers, num_heads = len(layers), layers[0].shape[0]
    size = 0.4 * len(tokens) + 1.6  # room for the rotated token labels under each map
    fig = Figure(figsize=(size * num_heads + 1.2, (size - 0.6) * num_layers + 2.4), layout="constrained")
    grid = fig.subplots(num_layers, num_heads, squeeze=False)
    for layer, (weights, axes) in enumerate(zip(layers, grid, strict=True)):
        for head, ax in enumerate(axes):
            image = ax.imshow(weights[head].float().cpu().numpy(), vmin=0.0, vmax=1.0, cmap="viridis")
            ax.set_title(f"layer {layer} · head {head}" if num_layers > 1 else f"head {head}", fontsize=8)
            below = tokens if layer == num_layers - 1 else []  # the keys' labels under the last row
            ax.set_xticks(range(len(tokens)), below, rotation=90, fontsize=7)
            ax.set_yticks(range(len(tokens)), tokens if head == 0 else [], fontsize=7)
        axes[0].set_ylabel("query (the token attending)", fontsize=8)
    fig.supxlabel("key (the token attended to)", fontsize=8)
    fig.colorbar(image, ax=list(grid.flat), shrink=0.8, label="attention weight")
    fig.suptitle(title, fontsize=9)
    return fig


class HeatmapFigure:
    """Renders attention heatmaps of a fixed prompt and head count into (H, W, 3) uint8 images, fast.

    The tokens, axes and labels never change between layers and epochs, only the weights and the title.
    So the figure is built and laid out once, everything but the maps and the title is rendered once as a
    background, and each image after that restores the background and draws only the maps, their frames
    and the title (matplotlib's blitting). Text is most of the cost of drawing a heatmap figure, and the
    labels are drawn only once.
    """

    def __init__(self, weights: torch.Tensor, tokens: list[str], title: str) -> None:
        """`title` is laid out as the first one; later titles should have as many lines."""
        self.figure = heatmap_figure(weights, tokens, title)
        self.canvas = FigureCanvasAgg(self.figure)
        self.title = next(text for text in self.figure.texts if text.get_text() == title)
        self.axes = [ax for ax in self.figure.axes if ax.images]  # one per head; the colorbar has none
        self.images = [ax.images[0] for ax in self.axes]
        self.canvas.draw()  # runs the layout once ...
        self.figure.set_layout_engine("none")  # ... and keeps its positions from now on
        for artist in [*self.images, self.title]:
            artist.set_visible(False)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.figure.bbox)
        for artist in [*self.images, self.title]:
            artist.set_visible(True)

    def render(self, weights: torch.Tensor, title: str) -> np.ndarray:
        """The figure for (heads, T, T) `weights` under `title`, as an (H, W, 3) uint8 numpy array."""
        self.canvas.restore_region(self.background)
        for ax, image, head_weights in zip(self.axes, self.images, weights, strict=True):
            image.set_data(head_weights.float().cpu().numpy())
            self.figure.draw_artist(image)
            for spine in ax.spines.values():  # the frame, which the map covers by half a line
                self.figure.draw_artist(spine)
        self.title.set_text(title)
        self.figure.draw_artist(self.title)
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()
