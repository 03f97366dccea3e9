"""Figures logged to TensorBoard: attention-weight heatmaps, one figure per layer, heads side by side."""

from __future__ import annotations

import torch


def attention_figure(weights: torch.Tensor, tokens: list[str], title: str):
    """A matplotlib Figure of (heads, T, T) attention weights: rows are queries, columns are keys.

    A causal layer shows an empty upper triangle: no token attends to a later one.
    """
    from matplotlib.figure import Figure  # imported here: matplotlib is not needed to start training

    num_heads = weights.shape[0]
    size = 0.35 * len(tokens) + 1.2
    fig = Figure(figsize=(size * num_heads, size + 0.4), layout="constrained")
    axes = fig.subplots(1, num_heads, squeeze=False)[0]
    for head, ax in enumerate(axes):
        image = ax.imshow(weights[head].float().cpu().numpy(), vmin=0.0, vmax=1.0, cmap="viridis")
        ax.set_title(f"head {head}", fontsize=8)
        ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=7)
        ax.set_yticks(range(len(tokens)), tokens if head == 0 else [], fontsize=7)
        ax.set_xlabel("key (attended to)", fontsize=7)
    axes[0].set_ylabel("query", fontsize=7)
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="attention weight")
    fig.suptitle(title, fontsize=9)
    return fig
