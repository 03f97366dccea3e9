"""The recall–memory trade-off of a `sweep=recall` (data=recall runs): per variant and number of pairs, the
share of questions answered right (mean ±95% t-interval over seeds) against the bytes the variant keeps per
sequence while it generates (its KV cache, or its recurrent state: model/kv_bytes.py), and each variant's
difference from mha at the same number of pairs and depth, with a verdict against seed noise. The figure is
the BASED paper's Figure 1 (Arora et al. 2024) for the book's variants."""

from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path
from typing import TYPE_CHECKING

from attention_lab.report.stats import Cell, Effect, mean_interval, welch_difference
from attention_lab.run_record import CONFIG_FILE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REFERENCE = "mha"  # what the other variants are compared with


def recall_cells(cells: list[Cell]) -> list[Cell]:
    """The cells of recall runs (those that logged val/recall_accuracy)."""
    return [c for c in cells if c.axes.pairs is not None and c.values("recall_accuracy")]


def memory_bytes(cell: Cell) -> int | None:
    """Bytes one sequence keeps while its model generates, fp32: the KV cache of a full sequence over all
    layers, or a recurrent state; from the config.yaml of the cell's first run (None without one)."""
    run = cell.runs[0]
    if run.version_dir is None or not (run.version_dir / CONFIG_FILE).is_file():
        return None
    return saved_run_bytes(run.version_dir / CONFIG_FILE)


@functools.cache
def saved_run_bytes(config_file: Path) -> int:
    """memory_bytes of the run whose resolved settings are `config_file`: read once per report, though the
    table and the figure both ask."""
    from omegaconf import OmegaConf

    from attention_lab.model.config import AttentionConfig
    from attention_lab.model.kv_bytes import kv_cache_bytes

    saved = OmegaConf.to_container(OmegaConf.load(config_file), resolve=True)
    model, attention = saved["model"], AttentionConfig(**saved["attention"])
    sizes = {key: model[key] for key in ("n_layers", "emb_dim", "n_heads", "context_length")}
    return kv_cache_bytes(attention.name, **sizes, **attention.own_settings)


def against_reference(cell: Cell, cells: list[Cell]) -> Effect | None:
    """cell's accuracy minus that of mha at the same number of pairs with the most layers of the sweep
    (None for that cell itself, or where it is missing): each variant against mha, and a shallower mha
    against the deeper one."""
    deepest = max((c.axes.layers or 0 for c in cells if c.axes.variant == REFERENCE), default=None)
    twin = dataclasses.replace(cell.axes, variant=REFERENCE, layers=deepest)
    reference = next((c for c in cells if c.axes == twin), None)
    if cell.axes == twin or reference is None:
        return None
    accuracy = "recall_accuracy"
    difference, half_width = welch_difference(cell.values(accuracy), reference.values(accuracy))
    where = f"{cell.axes.pairs} pairs"
    measure = f"Δ accuracy ({cell.axes.variant}, {cell.axes.layers} layers − {REFERENCE}, {deepest} layers)"
    return Effect("recall", where, measure, difference, half_width)


def recall_rows(cells: list[Cell]) -> tuple[list[str], list[list[str]]] | None:
    """variant, pairs, layers, bytes per sequence, accuracy ±95%, Δ vs mha ±95% and its verdict."""
    found = recall_cells(cells)
    if not found:
        return None
    headers = ["variant", "pairs", "layers", "memory / sequence", "recall accuracy", "Δ vs mha", "verdict"]
    rows = []
    for cell in found:
        mean, half = mean_interval(cell.values("recall_accuracy"))
        accuracy = f"{mean:.3f}" + ("" if math.isnan(half) else f" ±{half:.3f}")
        memory = memory_bytes(cell)
        effect = against_reference(cell, found)
        delta = "—" if effect is None else f"{effect.difference:+.3f}" + (
            "" if math.isnan(effect.half_width) else f" ±{effect.half_width:.3f}")
        rows.append([cell.axes.shown("variant"), str(cell.axes.pairs), str(cell.axes.layers),
                     "—" if memory is None else f"{memory:,} B", accuracy, delta,
                     "—" if effect is None else effect.verdict])  # fmt: skip
    return headers, rows


def recall_figure(cells: list[Cell], title: str) -> Figure:
    """Recall accuracy against bytes per sequence (log scale): a point per variant and number of pairs
    (mean ±95% over seeds), the points of one variant joined in order of pairs."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.6), layout="constrained")
    ax = fig.subplots()
    found = recall_cells(cells)
    for variant in dict.fromkeys(c.axes.variant for c in found):
        for layers in sorted({c.axes.layers for c in found if c.axes.variant == variant}):
            mine = [c for c in found if c.axes.variant == variant and c.axes.layers == layers]
            points = [(memory_bytes(c), *mean_interval(c.values("recall_accuracy")), c.axes.pairs)
                      for c in mine]  # fmt: skip
            points = sorted((p for p in points if p[0] is not None), key=lambda p: p[3])
            label = variant if len({c.axes.layers for c in found}) == 1 else f"{variant}, {layers} layers"
            xs, ys, half = [p[0] for p in points], [p[1] for p in points], [p[2] for p in points]
            line = ax.errorbar(xs, ys, yerr=[0 if math.isnan(h) else h for h in half], marker="o",
                               capsize=3, linewidth=1.2, label=label)  # fmt: skip
            for x, y, *_, pairs in points:
                ax.annotate(f"{pairs}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7,
                            color=line[0].get_color())  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel("bytes kept per sequence while generating (KV cache or recurrent state, fp32)")
    ax.set_ylabel("recall accuracy (share of questions)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{title}: recall against memory, a point per number of pairs (labelled), ±95% over seeds")
    return fig
