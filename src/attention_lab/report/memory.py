"""The quality–memory trade-off of a sweep over attention variants: per variant what it achieves (its recall
accuracy on data=recall, per number of pairs; its best val loss on a text) against the bytes it keeps per
sequence while it generates (its KV cache, or its recurrent state: model/kv_bytes.py), and each variant's
difference from mha at the same data and depth, with a verdict against seed noise and whether its runs were
still learning. Where the runs differ by learning rate, each point is the best rate of the grid (as Zoology
plots the best of a grid per point). For recall the figure is the BASED paper's Figure 1 (Arora et al.
2024) for the book's variants beside the accuracy against step at the most pairs; `sweep=quality_memory`
draws its text counterpart beside the val loss against step and against training time."""

from __future__ import annotations

import dataclasses
import math
import statistics

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from attention_lab.model.kv_bytes import kv_cache_bytes, short_bytes
from attention_lab.report.budget import curve_panel
from attention_lab.report.learning import best_over_lr, learning, quality_of, train_seconds
from attention_lab.report.plot import PALETTE
from attention_lab.report.quality import QUALITY, REFERENCE, Quality
from attention_lab.report.stats import Cell, Effect, mean_interval, welch_difference
from attention_lab.report.tables import plus_minus


def quality_cells(cells: list[Cell]) -> tuple[Quality, list[Cell], dict[object, list[float]]]:
    """What the cells are judged by and the cells judged: of a recall task every cell, of a text the causal
    ones (a model without the mask reads the answer: its loss says nothing of its quality); of cells that
    differ only by the learning rate, the best; and the grid of rates each was chosen from."""
    if not cells:
        return QUALITY["text"], [], {}
    quality = quality_of(cells[0])
    judged = [c for c in cells if quality_of(c) is quality and c.values(quality.field)
              and quality.judged(c.axes.causal)]  # fmt: skip
    chosen, grids = best_over_lr(judged)
    return quality, chosen, grids


def memory_bytes(cell: Cell) -> int | None:
    """Bytes one sequence keeps while its model generates, fp32: the KV cache of a full sequence over all
    layers, or a recurrent state; from the settings of the cell's first run (None without them)."""
    settings = cell.runs[0].settings
    if settings is None:
        return None
    model, attention = settings.model, settings.attention
    sizes = model.model_dump(include={"n_layers", "emb_dim", "n_heads", "context_length"})
    return kv_cache_bytes(attention.name, **sizes, **attention.own_settings)


def against_reference(cell: Cell, cells: list[Cell], quality: Quality) -> Effect | None:
    """cell's quality minus that of mha with the same data (and number of pairs) and the most layers of the
    sweep (None for that cell itself, or where it is missing): each variant against mha, and a shallower
    mha against the deeper one."""
    deepest = max((c.axes.layers or 0 for c in cells if c.axes.variant == REFERENCE), default=None)
    twin = dataclasses.replace(cell.axes, variant=REFERENCE, layers=deepest, lr=None)
    reference = next((c for c in cells if dataclasses.replace(c.axes, lr=None) == twin), None)
    if reference is None or reference is cell:
        return None
    difference, half_width = welch_difference(cell.values(quality.field), reference.values(quality.field))
    where = f"{quality.held} {cell.axes.shown(quality.held)}"
    compared = f"{cell.axes.variant}, {cell.axes.layers} layers − {REFERENCE}, {deepest} layers"
    measure = f"Δ {quality.name} ({compared})"
    return Effect(quality.name, where, measure, difference, half_width, compared=(cell, reference))


def memory_rows(cells: list[Cell]) -> tuple[list[str], list[list[str]]] | None:
    """variant, pairs (or data), layers, the learning rate (and its grid), bytes per sequence, quality ±95%,
    Δ vs mha ±95% and its verdict, whether the runs were still learning: of recall cells, or of the text
    cells of more than one variant; None otherwise."""
    quality, found, grids = quality_cells(cells)
    if not found or not quality.memory_by_default and len({c.axes.variant for c in found}) < 2:
        return None
    headers = ["variant", quality.held, "layers", "lr (best of)", "memory / sequence", quality.name,
               f"Δ vs {REFERENCE}", "verdict", "learning"]  # fmt: skip
    rows = []
    for cell in found:
        memory, effect = memory_bytes(cell), against_reference(cell, found, quality)
        grid = grids.get(cell.axes, [])
        of = f" ({', '.join(f'{r:g}' for r in grid)})" if len(grid) > 1 else ""
        rate = cell.axes.shown("lr") + of
        rows.append([cell.axes.shown("variant"), cell.axes.shown(quality.held),
                     str(cell.axes.layers), rate, "—" if memory is None else f"{memory:,} B",
                     plus_minus(*mean_interval(cell.values(quality.field))),
                     "—" if effect is None else plus_minus(effect.difference, effect.half_width, "+"),
                     "—" if effect is None else effect.verdict, learning(cell).verdict])  # fmt: skip
    return headers, rows


def groups(cells: list[Cell]) -> dict[tuple, list[Cell]]:
    """The cells of each variant (and depth and data set), in the report's order: one line each."""
    found: dict[tuple, list[Cell]] = {}
    for cell in cells:
        found.setdefault((cell.axes.variant, cell.axes.layers or 0, cell.axes.data), []).append(cell)
    return found


def label(key: tuple, keys: list[tuple]) -> str:
    variant, layers, data = key
    several_depths, several_data = (len({k[i] for k in keys}) > 1 for i in (1, 2))
    return ", ".join([str(variant)] + [f"{layers} layers"] * several_depths + [data] * several_data)


def memory_panel(ax: Axes, quality: Quality, found: list[Cell], colour: dict[tuple, str]) -> None:
    """Quality against bytes per sequence (log scale; linear below 1 kB, where `none` keeps nothing): a dot
    per seed, a line through the means over seeds (for recall, in order of pairs, each labelled)."""
    by_variant = groups(found)
    for key, members in by_variant.items():
        points = sorted(((memory_bytes(c), c) for c in members if memory_bytes(c) is not None),
                        key=lambda point: (point[0], point[1].axes.pairs or 0))  # fmt: skip
        means = [statistics.fmean(c.values(quality.field)) for _, c in points]
        ax.plot([x for x, _ in points], means, marker="o", linewidth=1.2, color=colour[key],
                label=label(key, list(by_variant)))  # fmt: skip
        for x, cell in points:
            seeds = cell.values(quality.field)
            ax.scatter([x] * len(seeds), seeds, s=9, color=colour[key], alpha=0.45)
            if quality.held == "pairs":
                ax.annotate(f"{cell.axes.pairs}", (x, statistics.fmean(seeds)), fontsize=7,
                            textcoords="offset points", xytext=(4, 4), color=colour[key])  # fmt: skip
    ax.set_xscale("symlog", linthresh=1e3)
    kept = sorted({x for x in map(memory_bytes, found) if x is not None})
    ax.set_xticks(kept, [short_bytes(x) for x in kept], rotation=30, fontsize=8)
    ax.minorticks_off()
    ax.set_xlabel("bytes kept per sequence while generating (KV cache or recurrent state, fp32)")
    ax.set_ylabel(quality.label.replace("val loss", "best val loss"))
    if quality.share:
        ax.set_ylim(-0.02, 1.02)


def memory_figure(cells: list[Cell], title: str) -> Figure:
    """Quality against memory (mean ±95% over seeds, the best learning rate of each point), beside the
    curves: for recall the accuracy against step at the most pairs; for a text the val loss against step
    and against training time (the variants differ in speed: a recurrent layer is sequential)."""
    quality, found, _ = quality_cells(cells)
    variants = list(dict.fromkeys(c.axes.variant for c in found))
    by_variant = {variant: PALETTE[i % len(PALETTE)] for i, variant in enumerate(variants)}
    colour = {key: by_variant[key[0]] for key in groups(found)}
    if quality.compares_time:
        panels = [("memory", found), ("against step", found), ("against training time", found)]
    else:  # the curves where the most is held: the hardest task
        most = max((getattr(c.axes, quality.held) for c in found), default=None)
        at_most = [c for c in found if getattr(c.axes, quality.held) == most]
        panels = [("memory", found), (f"{quality.curve_name} against step at {most} {quality.held}", at_most)]
    fig = Figure(figsize=(6.2 * len(panels), 4.8), layout="constrained")
    for ax, (name, members) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        if name == "memory":
            memory_panel(ax, quality, members, colour)
            ax.set_title(f"{quality.name} against memory (a dot per seed)")
        else:
            curve_panel(ax, members, by_variant, name.endswith("time"), quality)
            if not quality.compares_time:
                ax.set_title(name)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    times = [t for c in found for r in c.runs if not math.isnan(t := train_seconds(r))]
    budget = f", {statistics.fmean(times):,.0f} s of training per run" if times else ""
    fig.suptitle(f"{title}: mean over seeds, the best learning rate of each point{budget}", fontsize=10)
    return fig
