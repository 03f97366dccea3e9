"""The report's statistics: runs that differ only by seed form a cell (their RunAxes equal but the seed); the
effects of the mask, of dropout (at each place it acts) and of the position encoding are differences of cell
means with a 95% Welch t-interval over the seeds; the effect of the context (the val loss at the window's
last position minus its first) is a mean of per-run differences with a 95% t-interval."""

from __future__ import annotations

import math
import operator
import statistics
from collections.abc import Callable
from dataclasses import dataclass, replace

from attention_lab.report.runs import RunSummary
from attention_lab.run_record import RunAxes

# (column title, RunSummary field) of the losses a cell averages over its seeds.
METRICS = (
    ("train", "final_train_loss"),
    ("val", "final_val_loss"),
    ("best val", "best_val_loss"),
    ("val causal-mask", "val_loss_causal"),
    ("gap val−train", "gap"),
)


@dataclass(frozen=True)
class Cell:
    """The runs that differ only by seed: their shared axes (`axes`, seed None) and the runs."""

    axes: RunAxes
    runs: tuple[RunSummary, ...]

    def values(self, measure: str | Callable[[RunSummary], float]) -> list[float]:
        """The per-seed values of a RunSummary field or property (or of a function of the run), NaNs left
        out."""
        get = measure if callable(measure) else operator.attrgetter(measure)
        return [v for v in map(get, self.runs) if not math.isnan(v)]

    def at_position(self, position: int) -> list[float]:
        """The per-seed val losses at `position` of the window (runs that logged it)."""
        return [r.loss_by_position[position] for r in self.runs if position in r.loss_by_position]

    @property
    def positions(self) -> list[int]:
        """The positions every run of the cell logged a loss at."""
        common = set.intersection(*(set(r.loss_by_position) for r in self.runs)) if self.runs else set()
        return sorted(common)


def group_cells(runs: list[RunSummary]) -> list[Cell]:
    """Cells in the order of `runs` (load_runs sorts them by their axes)."""
    cells: dict[RunAxes, list[RunSummary]] = {}
    for run in runs:
        cells.setdefault(run.axes.cell, []).append(run)
    return [Cell(axes, tuple(members)) for axes, members in cells.items()]


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (NaN with fewer than 2 values)."""
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else math.nan


# Two-sided 95% quantiles of Student's t for 1..10 degrees of freedom, then 20, 30 and the normal limit.
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def t_975(df: float) -> float:
    """The t quantile for `df` degrees of freedom, rounded down to a tabulated df (the wider interval)."""
    whole = max(1, math.floor(df))
    return T_975.get(whole) or (
        2.228 if whole < 20 else 2.086 if whole < 30 else 2.042 if whole < 120 else 1.96
    )


@dataclass(frozen=True)
class Effect:
    """A difference with the half-width of its 95% t-interval: of two cells' means (Welch's interval), or
    the mean of a difference within each run of one cell (the context effect)."""

    effect: str  # "mask", "dropout", "context", "positions", or what memory.py compares with mha
    where: str  # the setting held fixed, e.g. "mha, dropout all 0.1" or "mha, causal, all 0.3 vs none"
    measure: str  # e.g. "Δ val loss (non-causal − causal)"
    difference: float
    half_width: float  # NaN when a side has a single seed: no interval
    compared: tuple[Cell, ...] = ()  # the cells it compares (one for an effect within each run)

    @property
    def verdict(self) -> str:
        if math.isnan(self.half_width):
            return "one seed: no interval"
        return "exceeds seed spread" if abs(self.difference) > self.half_width else "within seed noise"


def mean_interval(values: list[float]) -> tuple[float, float]:
    """The mean and the half-width of its 95% t-interval, t·s/√n (NaN with fewer than 2 values)."""
    mean = statistics.fmean(values) if values else math.nan
    if len(values) < 2:
        return mean, math.nan
    return mean, t_975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))


def welch_difference(a: list[float], b: list[float]) -> tuple[float, float]:
    """mean(a) − mean(b) and the half-width of its 95% Welch t-interval (NaN with < 2 values a side)."""
    difference = statistics.fmean(a) - statistics.fmean(b)
    if len(a) < 2 or len(b) < 2:
        return difference, math.nan
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = math.sqrt(va + vb)
    if se == 0.0:
        return difference, 0.0
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))  # Welch–Satterthwaite
    return difference, t_975(df) * se


def where(axes: RunAxes, cells: list[Cell], compared: str = "") -> str:
    """What an effect holds fixed: the variant, the mask, the dropout and each other axis the cells differ
    by, but the `compared` one, e.g. "mha, positions rope, causal, dropout all 0.2"."""
    names = [name for name in axes.differing([c.axes for c in cells]) if name != compared]
    return ", ".join(axes.shown(n) if n in ("variant", "causal") else f"{axes.title_of(n)} {axes.shown(n)}"
                     for n in names)  # fmt: skip


def effects(cells: list[Cell]) -> list[Effect]:
    """Each cell against its twin that differs by one axis: the mask (non-causal − causal), dropout (each
    placement against none), the position encoding (against learned); and the context's effect per cell
    (where runs logged the loss by position)."""
    by_axes = {c.axes: c for c in cells}
    found: list[Effect] = []

    def add(effect: str, at: str, measure: str, a: Cell, b: Cell, values: str) -> None:
        if a.values(values) and b.values(values):
            difference = welch_difference(a.values(values), b.values(values))
            found.append(Effect(effect, at, measure, *difference, (a, b)))

    for cell in cells:
        other = by_axes.get(replace(cell.axes, causal=False))
        if cell.axes.causal is True and other is not None:
            at = where(cell.axes, cells, "causal")
            add("mask", at, "Δ val loss (non-causal − causal)", other, cell, "final_val_loss")
            add("mask", at, "Δ val causal-mask (non-causal − causal)", other, cell, "val_loss_causal")
            add("mask", at, "Δ attention on the next token", other, cell, "attention_next")
    for cell in cells:
        baseline = by_axes.get(replace(cell.axes, dropout=0.0, drop_rate_emb=0.0, drop_rate_shortcut=0.0))
        if any(cell.axes.rates) and baseline is not None:
            at = f"{where(cell.axes, cells, 'dropout')}, {cell.axes.placement} vs none"
            add("dropout", at, "Δ best val", cell, baseline, "best_val_loss")
            add("dropout", at, "Δ final val", cell, baseline, "final_val_loss")
            add("dropout", at, "Δ gap val−train", cell, baseline, "gap")
    for cell in cells:  # what the context gives: the loss at the last position against the first
        if len(cell.positions) > 1:
            first, last = cell.positions[0], cell.positions[-1]
            gains = [r.loss_by_position[last] - r.loss_by_position[first] for r in cell.runs]
            measure = f"Δ val loss (position {last} − {first})"
            at = where(cell.axes, cells, "")
            found.append(Effect("context", at, measure, *mean_interval(gains), (cell,)))
    for cell in cells:
        learned = by_axes.get(replace(cell.axes, pos_emb="learned"))
        if cell.axes.pos_emb != "learned" and learned is not None:
            at = where(cell.axes, cells, "pos_emb")
            for measure, field in (("best val", "best_val_loss"), ("final val", "final_val_loss"),
                                   ("val causal-mask", "val_loss_causal")):  # fmt: skip
                add("positions", at, f"Δ {measure} ({cell.axes.pos_emb} − learned)", cell, learned, field)
    return found
