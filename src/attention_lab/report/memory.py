"""The quality–memory trade-off of a sweep over attention variants: per variant what it achieves (its recall
accuracy on data=recall, per number of pairs; its best val loss on a text) against the bytes it keeps per
sequence while it generates (its KV cache, or its recurrent state: model/kv_bytes.py), and each variant's
difference from mha at the same data and depth, with a verdict against seed noise. For recall the figure is
the BASED paper's Figure 1 (Arora et al. 2024) for the book's variants; `sweep=quality_memory` draws its
text counterpart."""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from attention_lab.report.stats import Cell, Effect, mean_interval, welch_difference
from attention_lab.report.tables import plus_minus
from attention_lab.run_record import CONFIG_FILE

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REFERENCE = "mha"  # what the other variants are compared with


@dataclass(frozen=True)
class Quality:
    """What a variant achieves, read from its runs: a RunSummary field."""

    field: str
    name: str  # in tables and Δ labels
    label: str  # the figure's axis

    def of(self, cell: Cell) -> list[float]:
        return cell.values(self.field)


RECALL_ACCURACY = Quality("recall_accuracy", "recall accuracy", "recall accuracy (share of questions)")
BEST_VAL_LOSS = Quality("best_val_loss", "best val loss", "best val loss (nats; lower is better)")


def recall_cells(cells: list[Cell]) -> list[Cell]:
    """The cells of recall runs (those that logged val/recall_accuracy)."""
    return [c for c in cells if c.axes.pairs is not None and c.values("recall_accuracy")]


def quality_cells(cells: list[Cell]) -> tuple[Quality, list[Cell]]:
    """The recall cells and their accuracy where there are any, else the causal text cells and their best
    val loss (a model without the mask reads the answer: its loss says nothing of its quality)."""
    recall = recall_cells(cells)
    if recall:
        return RECALL_ACCURACY, recall
    return BEST_VAL_LOSS, [c for c in cells if c.axes.causal is not False and c.values("best_val_loss")]


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


def against_reference(cell: Cell, cells: list[Cell], quality: Quality) -> Effect | None:
    """cell's quality minus that of mha with the same data (and number of pairs) and the most layers of the
    sweep (None for that cell itself, or where it is missing): each variant against mha, and a shallower
    mha against the deeper one."""
    deepest = max((c.axes.layers or 0 for c in cells if c.axes.variant == REFERENCE), default=None)
    twin = dataclasses.replace(cell.axes, variant=REFERENCE, layers=deepest)
    reference = next((c for c in cells if c.axes == twin), None)
    if cell.axes == twin or reference is None:
        return None
    difference, half_width = welch_difference(quality.of(cell), quality.of(reference))
    where = f"{cell.axes.pairs} pairs" if quality is RECALL_ACCURACY else cell.axes.shown("data")
    compared = f"{cell.axes.variant}, {cell.axes.layers} layers − {REFERENCE}, {deepest} layers"
    measure = f"Δ {quality.name} ({compared})"
    return Effect(quality.name, where, measure, difference, half_width)


def memory_rows(cells: list[Cell]) -> tuple[list[str], list[list[str]]] | None:
    """variant, data (pairs), layers, bytes per sequence, quality ±95%, Δ vs mha ±95% and its verdict: for
    recall cells, or for text cells of more than one variant; None otherwise."""
    quality, found = quality_cells(cells)
    if not found or quality is BEST_VAL_LOSS and len({c.axes.variant for c in found}) < 2:
        return None
    data = "pairs" if quality is RECALL_ACCURACY else "data"
    headers = ["variant", data, "layers", "memory / sequence", quality.name, "Δ vs mha", "verdict"]
    rows = []
    for cell in found:
        memory, effect = memory_bytes(cell), against_reference(cell, found, quality)
        delta = "—" if effect is None else plus_minus(effect.difference, effect.half_width, "+")
        held = str(cell.axes.pairs) if quality is RECALL_ACCURACY else cell.axes.shown("data")
        rows.append([cell.axes.shown("variant"), held,
                     str(cell.axes.layers), "—" if memory is None else f"{memory:,} B",
                     plus_minus(*mean_interval(quality.of(cell))), delta,
                     "—" if effect is None else effect.verdict])  # fmt: skip
    return headers, rows


def memory_figure(cells: list[Cell], title: str) -> Figure:
    """Quality against bytes per sequence (log scale), mean ±95% over seeds: for recall a point per variant
    and number of pairs, a variant's points joined in order of pairs; for a text a point per variant."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.6), layout="constrained")
    ax = fig.subplots()
    quality, found = quality_cells(cells)
    def group(cell: Cell) -> tuple[str | None, int, str]:
        return cell.axes.variant, cell.axes.layers or 0, cell.axes.data

    groups = list(dict.fromkeys(group(c) for c in found))  # in the report's order of cells
    several_depths, several_data = (len({g[i] for g in groups}) > 1 for i in (1, 2))
    for variant, layers, data in groups:
        mine = [c for c in found if group(c) == (variant, layers, data)]
        points = [(memory_bytes(c), *mean_interval(quality.of(c)), c.axes.pairs) for c in mine]
        points = sorted((p for p in points if p[0] is not None), key=lambda p: p[3] or 0)
        label = ", ".join([str(variant)] + [f"{layers} layers"] * several_depths + [data] * several_data)
        xs, ys, half = [p[0] for p in points], [p[1] for p in points], [p[2] for p in points]
        line = ax.errorbar(xs, ys, yerr=[0 if math.isnan(h) else h for h in half], marker="o",
                           capsize=3, linewidth=1.2, label=label)  # fmt: skip
        for x, y, *_, pairs in points:
            ax.annotate(str(variant) if pairs is None else f"{pairs}", (x, y), textcoords="offset points",
                        xytext=(4, 4), fontsize=7, color=line[0].get_color())  # fmt: skip
    if any(memory_bytes(c) == 0 for c in found):  # no memory at all (none): linear below 1 kB
        ax.set_xscale("symlog", linthresh=1e3)
    else:
        ax.set_xscale("log")
    ax.set_xlabel("bytes kept per sequence while generating (KV cache or recurrent state, fp32)")
    ax.set_ylabel(quality.label)
    if quality is RECALL_ACCURACY:
        ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right" if quality is RECALL_ACCURACY else "best")
    shown = "a point per number of pairs (labelled)" if quality is RECALL_ACCURACY else "a point per variant"
    fig.suptitle(f"{title}\n{quality.name} against memory, {shown}, ±95% over seeds", fontsize=10)
    return fig
