"""The report's PNG: one panel per effect, each curve the mean over seeds with a ±std band.

Mask panel (at the smallest dropout of the sweep): val/loss of causal and non-causal runs, and val/loss_causal
of the non-causal runs (for causal runs it equals val/loss). A non-causal run far below the causal one on
val/loss but above it on val/loss_causal learned to look ahead. Dropout panel (causal runs, or all when
there are none): train and val loss for each dropout p; a train curve far below its val curve overfits.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import TYPE_CHECKING

from attention_lab.report.runs import Curve
from attention_lab.report.stats import Cell

if TYPE_CHECKING:  # matplotlib is imported where a figure is drawn
    from matplotlib.axes import Axes

PALETTE = (
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
)  # distinct in print and on screen


def mean_band(curves: list[Curve], smooth: int = 1) -> tuple[list[int], list[float], list[float]]:
    """Steps every curve has, the mean over curves and its std (0 for one curve). `smooth` > 1 first takes a
    trailing moving average of each curve over that many points (per-step train losses are noisy)."""
    if not curves or not all(curves):
        return [], [], []
    smoothed = []
    for curve in curves:
        values = [v for _, v in curve]
        window = [statistics.fmean(values[max(0, i - smooth + 1) : i + 1]) for i in range(len(values))]
        smoothed.append(dict(zip((s for s, _ in curve), window, strict=True)))
    steps = sorted(set.intersection(*(set(c) for c in smoothed)))
    columns = [[c[s] for c in smoothed] for s in steps]
    means = [statistics.fmean(column) for column in columns]
    stds = [statistics.stdev(column) if len(column) > 1 else 0.0 for column in columns]
    return steps, means, stds


def draw(
    ax: Axes, curves: list[Curve], label: str, colour: str, style: str, marker: str | None, smooth: int = 1
) -> None:
    steps, means, stds = mean_band(curves, smooth)
    if not steps:
        return
    every = max(1, len(steps) // 8)  # markers sparse enough to see the line style between them
    ax.plot(steps, means, linestyle=style, color=colour, marker=marker, markevery=every, linewidth=1.8,
            label=f"{label} (n={len(curves)})")  # fmt: skip
    low, high = (
        [m - s for m, s in zip(means, stds, strict=True)],
        [m + s for m, s in zip(means, stds, strict=True)],
    )
    ax.fill_between(steps, low, high, color=colour, alpha=0.18, linewidth=0)


def mask_panel(ax: Axes, cells: list[Cell]) -> None:
    dropouts = sorted({c.dropout for c in cells if c.dropout is not None}) or [None]
    p = dropouts[0]
    chosen = [c for c in cells if c.dropout == p]
    for c in chosen:
        runs = c.runs
        # Cells without position embeddings (sweep=mask_pos_emb) get their own pair of colours.
        learned = c.pos_emb == "learned"
        where = "" if learned else f", pos {c.pos_emb}"
        if c.causal is False:
            colour = PALETTE[1 if learned else 4]
            draw(ax, [r.val_curve for r in runs], f"non-causal{where}: val/loss", colour, "-", "o")
            draw(
                ax,
                [r.val_causal_curve for r in runs],
                f"non-causal{where}: val/loss_causal",
                colour,
                "--",
                "^",
            )
        else:
            label = f"causal{where}: val/loss (= val/loss_causal)"
            draw(ax, [r.val_curve for r in runs], label, PALETTE[0 if learned else 5], "-", "s")
    ax.set_title(f"mask effect (dropout p={'?' if p is None else f'{p:g}'})")


def dropout_panel(ax: Axes, cells: list[Cell]) -> None:
    chosen = [c for c in cells if c.causal is True] or cells
    variants = sorted({c.variant or "" for c in chosen})
    chosen = [c for c in chosen if (c.variant or "") == variants[0]]
    for i, c in enumerate(sorted(chosen, key=lambda c: c.dropout or 0.0)):
        colour, p = PALETTE[(i + 2) % len(PALETTE)], "?" if c.dropout is None else f"{c.dropout:g}"
        p += "" if c.pos_emb == "learned" else f", pos {c.pos_emb}"
        train = [r.train_curve for r in c.runs]
        smooth = max(1, min(len(t) for t in train) // 25) if all(train) else 1
        draw(ax, train, f"p={p}: train/loss (smoothed)", colour, ":", None, smooth)
        draw(ax, [r.val_curve for r in c.runs], f"p={p}: val/loss", colour, "-", "o")
    mask = "causal" if chosen and chosen[0].causal else "all"
    # Named after what the plotted cells differ by: dropout (sweep=mask_dropout), positions (mask_pos_emb).
    if len({c.dropout for c in chosen}) > 1:
        effect = "dropout effect"
    elif len({c.pos_emb for c in chosen}) > 1:
        effect = "position embeddings"
    else:
        effect = "train and val loss"
    ax.set_title(f"{effect} ({mask} runs)")


def plot_report(cells: list[Cell], path: Path, title: str) -> Path:
    """Write the two-panel figure of `cells` to the PNG `path`."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 5.5), layout="constrained")
    mask_ax, dropout_ax = fig.subplots(1, 2)
    mask_panel(mask_ax, cells)
    dropout_panel(dropout_ax, cells)
    for ax in (mask_ax, dropout_ax):
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("cross-entropy loss (nats)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{title}: mean over seeds, band = ±1 std")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
