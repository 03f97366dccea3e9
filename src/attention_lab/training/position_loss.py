"""The validation loss at each position of the window: how much each prediction gains from the tokens
before it (the book's section 3.1 as a picture). Position p (1 … context) predicts token p + 1 having read
p tokens; for a model trained without the mask the loss is taken with the mask forced on (the val/loss_causal
pass), as it generates, so that no position reads its answer. With attention the loss falls as the context
grows; without mixing (`attention=none`) it stays flat.

Tags, after every validation: val_loss_by_position/position_<p> for p = 1, 2, 4, 8, … and the context,
and (with the heatmaps' cadence, TensorBoardExtras) the whole curve as an image, val_loss_by_position/curve.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torchmetrics import Metric


def logged_positions(context_length: int) -> list[int]:
    """1, 2, 4, 8, … up to the context, and the context itself: the positions logged as scalars."""
    positions = [2**i for i in range(context_length.bit_length()) if 2**i <= context_length]
    return positions if positions[-1:] == [context_length] or not positions else [*positions, context_length]


class PositionMean(Metric):
    """The mean over windows of a per-position value (b, T) → (T,): e.g. the loss at each position, over
    the positions some window reached (windows may be shorter than the context). Sums and counts are added
    across DDP processes."""

    def __init__(self, context_length: int) -> None:
        super().__init__()
        zeros = torch.zeros(context_length, dtype=torch.float64)
        self.add_state("total", default=zeros, dist_reduce_fx="sum")  # per position, over windows
        self.add_state("count", default=zeros.clone(), dist_reduce_fx="sum")

    def update(self, values: torch.Tensor) -> None:
        """values (b, T ≤ context): one row per window."""
        self.total[: values.shape[1]] += values.detach().double().sum(0)
        self.count[: values.shape[1]] += values.shape[0]

    def compute(self) -> torch.Tensor:
        reached = self.count > 0
        return (self.total[reached] / self.count[reached]).float()

    def curve(self) -> torch.Tensor:
        """compute() as (positions reached,), also for one position, which torchmetrics returns as 0-d."""
        return self.compute().reshape(-1)


def position_figure(losses: torch.Tensor, title: str) -> Figure:
    """Loss (nats) against position in the window, positions on a log scale as they are logged."""
    fig = Figure(figsize=(6.0, 3.6), layout="constrained")
    ax = fig.subplots()
    positions = np.arange(1, len(losses) + 1)
    ax.plot(positions, losses.cpu().numpy(), marker="o", markersize=3, linewidth=1.5)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("position in the window (tokens read)")
    ax.set_ylabel("val loss (nats)")
    ax.grid(True, alpha=0.3)
    ax.set_title(title, fontsize=9)
    return fig


def position_image(losses: torch.Tensor, title: str) -> np.ndarray:
    """`position_figure` as an (H, W, 3) uint8 image for TensorBoard."""
    canvas = FigureCanvasAgg(position_figure(losses, title))
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
