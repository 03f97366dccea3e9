"""The report's PNG: one panel per effect, each curve the mean over seeds with a ±std band.

Mask panel (where some runs trained without the mask; at the smallest dropout of the sweep): val/loss of
causal and non-causal runs, and val/loss_causal of the non-causal runs (for causal runs it equals val/loss).
A non-causal run far below the causal one on val/loss but above it on val/loss_causal learned to look ahead.
Dropout panel (causal runs, or all when there are none): train and val loss for each dropout placement (or
position encoding, or variant); a train curve far below its val curve overfits. Attention panel (where
non-causal runs logged it): the weight a query puts on the token it must predict, at every validation: the
leak as a curve. Position panel (where the runs logged it): what the context gains, the val loss at each
position of the window minus the loss at position 1.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from attention_lab.report.budget import compared_cells, curve_panel
from attention_lab.report.runs import Curve
from attention_lab.report.stats import Cell
from attention_lab.run_record import MASK, RunAxes, placement

# Distinct in print and on screen; eight, for the seven variants of the memory sweeps and one more.
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#7f7f7f", "#17becf")
# (causal, non-causal) colours of the position encodings, in the report's order of them (learned first):
# blue, red; teal, brown; green, orange; purple, pink
PAIRS = (("#1f77b4", "#d62728"), ("#17becf", "#8c564b"), ("#2ca02c", "#ff7f0e"), ("#9467bd", "#e377c2"))


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


def note(axes: RunAxes, cells: list[Cell]) -> str:
    """", <encoding>" in a label where the encoding tells cells apart or is not the book's (learned), and
    ", <data set>" where the cells come from several (a report over two corpora)."""
    shown = [axes.pos_emb] if axes.pos_emb != "learned" or len({c.axes.pos_emb for c in cells}) > 1 else []
    shown += [axes.data] if len({c.axes.data for c in cells}) > 1 else []
    return "".join(f", {part}" for part in shown)


def encodings(cells: list[Cell]) -> list[str]:
    """The position encodings of `cells` in the report's order (load_runs puts learned first)."""
    return list(dict.fromkeys(c.axes.pos_emb for c in cells))


def colours(axes: RunAxes, cells: list[Cell]) -> tuple[str, str]:
    """(causal, non-causal) colours of the cells of a position encoding (and data set), the same in every
    panel."""
    kinds = list(dict.fromkeys((c.axes.pos_emb, c.axes.data) for c in cells))
    return PAIRS[kinds.index((axes.pos_emb, axes.data)) % len(PAIRS)]


def mask_panel(ax: Axes, cells: list[Cell]) -> None:
    rates = min({c.axes.rates for c in cells})  # the smallest dropout of the sweep
    for c in (c for c in cells if c.axes.rates == rates):
        runs, (causal_colour, leak_colour) = c.runs, colours(c.axes, cells)
        where = note(c.axes, cells)
        if c.axes.causal is False:
            draw(ax, [r.val_curve for r in runs], f"{c.axes.mask}{where}: val/loss", leak_colour, "-", "o")
            label = f"{c.axes.mask}{where}: val/loss_causal"
            draw(ax, [r.val_causal_curve for r in runs], label, leak_colour, "--", "^")
        else:
            label = f"{c.axes.mask}{where}: val/loss (= val/loss_causal)"
            draw(ax, [r.val_curve for r in runs], label, causal_colour, "-", "s")
    ax.set_title(f"mask effect (dropout {cells[0].axes.placement if len(cells) == 1 else placement(rates)})")


def variant_colour(cell: Cell, cells: list[Cell]) -> str:
    """One colour per variant, the same in every panel of a sweep over variants."""
    variants = list(dict.fromkeys(c.axes.variant or "" for c in cells))  # in the report's (chapter's) order
    return PALETTE[variants.index(cell.axes.variant or "") % len(PALETTE)]


def dropout_panel(ax: Axes, cells: list[Cell]) -> None:
    chosen = [c for c in cells if c.axes.causal is True] or cells
    by_variant = len({c.axes.variant for c in chosen}) > 1
    by_variant &= len({(c.axes.rates, c.axes.pos_emb) for c in chosen}) == 1
    if not by_variant:  # one variant's cells: what else they differ by
        chosen = [c for c in chosen if c.axes.variant == chosen[0].axes.variant]
    # Cells that differ by position encoding only take the colours of the mask panel.
    by_position = len({c.axes.rates for c in chosen}) == 1 and len({c.axes.pos_emb for c in chosen}) > 1
    order = encodings(cells)
    for i, c in enumerate(sorted(chosen, key=lambda c: (c.axes.rates, order.index(c.axes.pos_emb)))):
        colour = colours(c.axes, cells)[0] if by_position else PALETTE[(i + 2) % len(PALETTE)]
        label = f"dropout {c.axes.placement}{note(c.axes, chosen)}"
        if by_variant:
            colour, label = variant_colour(c, cells), str(c.axes.variant)
        train = [r.train_curve for r in c.runs]
        smooth = max(1, min(len(t) for t in train) // 25) if all(train) else 1
        draw(ax, train, f"{label}: train/loss (smoothed)", colour, ":", None, smooth)
        draw(ax, [r.val_curve for r in c.runs], f"{label}: val/loss", colour, "-", "o")
    mask = MASK[True] if chosen and chosen[0].axes.causal else "all"
    # Named after what the plotted cells differ by: dropout (mask_dropout, dropout_placement), positions.
    if by_variant:
        effect = "variants"
    elif by_position:
        effect = "position encodings"
    elif len({c.axes.rates for c in chosen}) > 1:
        effect = "dropout effect"
    else:
        effect = "train and val loss"
    highest_val = max((v for c in chosen for r in c.runs for _, v in r.val_curve), default=None)
    if highest_val is not None:  # the first steps' train loss (ln 50,257 ≈ 10.8) would squash the rest
        ax.set_ylim(top=highest_val + 0.5)
    ax.set_title(f"{effect} ({mask} runs)")


def focus_panel(ax: Axes, cells: list[Cell]) -> None:
    """The leak as a curve: the weight a query puts on the token it must predict, mean over layers."""
    rates = sorted({c.axes.rates for c in cells})
    by_dropout = len(rates) > 1 and len({c.axes.pos_emb for c in cells}) == 1  # else by position encoding
    for c in cells:
        causal_colour, leak_colour = colours(c.axes, cells)
        if by_dropout:  # the non-causal cells in the warm colours of the pairs, one per dropout
            leak_colour = PAIRS[rates.index(c.axes.rates) % len(PAIRS)][1]
        mask = c.axes.mask
        label = f"{mask}, dropout {c.axes.placement}{note(c.axes, cells)}"
        style = "--" if c.axes.causal is False else "-"
        colour, marker = (leak_colour, "o") if c.axes.causal is False else (causal_colour, "s")
        draw(ax, [r.next_token_curve for r in c.runs], label, colour, style, marker)
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("attention on the next token (the answer; 0 under the mask)")


def position_panel(ax: Axes, cells: list[Cell]) -> None:
    """What the context gains (section 3.1 as a picture): per run, the val loss at each logged position of
    the window minus the loss at position 1, at the best validation. Each run against itself: the seeds'
    different overall levels drop out, as in the report's context effect."""
    for i, c in enumerate(cells):
        positions = c.positions
        if not positions:
            continue
        first = positions[0]
        gains = [[r.loss_by_position[p] - r.loss_by_position[first] for r in c.runs] for p in positions]
        means = [statistics.fmean(g) for g in gains]
        stds = [statistics.stdev(g) if len(g) > 1 else 0.0 for g in gains]
        several = len({cell.axes.variant for cell in cells}) > 1
        colour = variant_colour(c, cells) if several else PALETTE[i % len(PALETTE)]
        style = "--" if c.axes.causal is False else "-"
        parts = [str(c.axes.variant)]  # and what else tells the cells apart
        if len({cell.axes.causal for cell in cells}) > 1:
            parts.append(c.axes.mask)
        if len({cell.axes.rates for cell in cells}) > 1:
            parts.append(f"dropout {c.axes.placement}")
        label = ", ".join(parts) + note(c.axes, cells)
        ax.plot(positions, means, linestyle=style, color=colour, marker="o", linewidth=1.8,
                label=f"{label} (n={len(c.runs)})")  # fmt: skip
        low = [m - s for m, s in zip(means, stds, strict=True)]
        high = [m + s for m, s in zip(means, stds, strict=True)]
        ax.fill_between(positions, low, high, color=colour, alpha=0.18, linewidth=0)
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter("{x:g}")
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_xlabel("position in the window (tokens read)")
    ax.set_title("what the context gains: val loss at a position − at position 1\n(at the best validation)")


def report_figure(cells: list[Cell], title: str) -> Figure:
    """The figure of `cells`: a panel for each effect the runs can show. The mask panel and the attention on
    the next token only where some runs trained without the mask (and the attention panel only where they
    logged it); the dropout (or positions) panel always; the loss by position where the runs logged it."""
    open_cells = [c for c in cells if c.axes.causal is False]
    panels = [(mask_panel, "cross-entropy loss (nats)")] if open_cells else []
    panels.append((dropout_panel, "cross-entropy loss (nats)"))
    if any(r.next_token_curve for c in open_cells for r in c.runs):
        panels.append((focus_panel, "mean attention weight on the next token"))
    if any(c.positions for c in cells):
        panels.append((position_panel, "Δ cross-entropy loss (nats)"))
    if compared := compared_cells(cells):  # variants of different speed: their val loss against time too
        colours = {c.axes.variant: variant_colour(c, cells) for c in compared}
        panels.append((lambda ax, _: curve_panel(ax, compared, colours, by_time=True), "val loss (nats)"))
    columns = 2 if len(panels) >= 4 else len(panels)
    rows = math.ceil(len(panels) / columns)
    fig = Figure(figsize=(6.5 * columns, 5.5 * rows), layout="constrained")
    grid = list(fig.subplots(rows, columns, squeeze=False).flat)
    for spare in grid[len(panels) :]:
        spare.remove()
    for ax, (panel, ylabel) in zip(grid, panels, strict=False):
        ax.set_xlabel("optimizer step")  # the position and time panels set their own
        panel(ax, cells)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{title}: mean over seeds, band = ±1 std")
    return fig


def plot_report(
    cells: list[Cell], path: Path, title: str, figure: Callable[[list[Cell], str], Figure] = report_figure
) -> Path:
    """Write `figure` (the report's curves, or memory.py's quality against memory) of `cells` to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure(cells, title).savefig(path, dpi=110)
    return path
