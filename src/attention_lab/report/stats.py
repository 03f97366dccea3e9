"""The report's statistics: runs that differ only by seed form a cell; the effects of the mask, of dropout
(at each place it acts) and of the position encoding are differences of cell means with a 95% Welch
t-interval over the seeds; the effect of the context (the val loss at the window's last position minus
its first) is a mean of per-run differences with a 95% t-interval."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from attention_lab.report.runs import RunSummary

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
    """The runs of one setting (variant, causal, dropout at its three places, position encoding) that differ
    only by seed. `dropout` is the attention weights'; `drop_rate_emb` and `drop_rate_shortcut` the others."""

    variant: str | None
    causal: bool | None
    dropout: float | None
    runs: tuple[RunSummary, ...]
    pos_emb: str = "learned"
    drop_rate_emb: float | None = None
    drop_rate_shortcut: float | None = None

    def values(self, field: str) -> list[float]:
        """The per-seed values of a RunSummary field, NaNs left out."""
        return [v for v in (getattr(r, field) for r in self.runs) if not math.isnan(v)]

    def at_position(self, position: int) -> list[float]:
        """The per-seed val losses at `position` of the window (runs that logged it)."""
        return [r.loss_by_position[position] for r in self.runs if position in r.loss_by_position]

    @property
    def positions(self) -> list[int]:
        """The positions every run of the cell logged a loss at."""
        common = set.intersection(*(set(r.loss_by_position) for r in self.runs)) if self.runs else set()
        return sorted(common)

    @property
    def rates(self) -> tuple[float, float, float]:
        """Dropout on the embeddings, the attention weights and the shortcut path (unknown: 0)."""
        return self.drop_rate_emb or 0.0, self.dropout or 0.0, self.drop_rate_shortcut or 0.0

    @property
    def placement(self) -> str:
        """Where dropout acts in this cell's runs (`placement`)."""
        return placement(self.rates)


def placement(rates: tuple[float, float, float]) -> str:
    """Where dropout acts, from its rates on the embeddings, the attention weights and the shortcut path:
    e.g. "none", "all 0.2" (the same rate at all three places), "attention 0.2"."""
    names = ("embedding", "attention", "shortcut")
    places = [(name, p) for name, p in zip(names, rates, strict=True) if p]
    if not places:
        return "none"
    if len(places) == 3 and len(set(rates)) == 1:
        return f"all {rates[0]:g}"
    return ", ".join(f"{name} {p:g}" for name, p in places)


def group_cells(runs: list[RunSummary]) -> list[Cell]:
    """Cells in the order of `runs` (load_runs sorts them: causal first, then by dropout)."""
    cells: dict[tuple, list[RunSummary]] = {}
    for run in runs:
        key = (run.variant, run.causal, run.dropout, run.pos_emb, run.drop_rate_emb, run.drop_rate_shortcut)
        cells.setdefault(key, []).append(run)
    return [Cell(v, c, p, tuple(runs), pos, emb, res) for (v, c, p, pos, emb, res), runs in cells.items()]


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

    effect: str  # "mask", "dropout", "context" or "positions"
    where: str  # the setting held fixed, e.g. "mha, dropout all 0.1" or "mha, causal, all 0.3 vs none"
    measure: str  # e.g. "Δ val loss (non-causal − causal)"
    difference: float
    half_width: float  # NaN when a side has a single seed: no interval

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


def pos_note(pos_emb: str, cells: list[Cell]) -> str:
    """", pos <encoding>" in a label where the encoding tells cells apart or is not the book's (learned)."""
    return f", pos {pos_emb}" if pos_emb != "learned" or len({c.pos_emb for c in cells}) > 1 else ""


def effects(cells: list[Cell]) -> list[Effect]:
    """The mask effect per (variant, positions, dropout), the dropout effect per (variant, positions, mask)
    and placement against no dropout at all, the context's per cell (where runs logged the loss by position)
    and the effect of each position encoding against learned per (variant, mask, dropout)."""
    by_key = {(c.variant, c.pos_emb, c.causal, c.rates): c for c in cells}
    found: list[Effect] = []

    def add(effect: str, where: str, measure: str, a: Cell, b: Cell, field: str) -> None:
        if a.values(field) and b.values(field):
            found.append(Effect(effect, where, measure, *welch_difference(a.values(field), b.values(field))))

    for (variant, pos_emb, causal, rates), cell in by_key.items():
        other = by_key.get((variant, pos_emb, False, rates))
        if causal is True and other is not None:
            where = f"{variant}{pos_note(pos_emb, cells)}, dropout {cell.placement}"
            add("mask", where, "Δ val loss (non-causal − causal)", other, cell, "final_val_loss")
            add("mask", where, "Δ val causal-mask (non-causal − causal)", other, cell, "val_loss_causal")
            add("mask", where, "Δ attention on the next token", other, cell, "attention_next")
    for (variant, pos_emb, causal, rates), cell in by_key.items():
        baseline = by_key.get((variant, pos_emb, causal, (0.0, 0.0, 0.0)))
        if any(rates) and baseline is not None:
            mask = "causal" if causal else "non-causal"
            where = f"{variant}{pos_note(pos_emb, cells)}, {mask}, {cell.placement} vs none"
            add("dropout", where, "Δ best val", cell, baseline, "best_val_loss")
            add("dropout", where, "Δ final val", cell, baseline, "final_val_loss")
            add("dropout", where, "Δ gap val−train", cell, baseline, "gap")
    for cell in cells:  # what the context gives: the loss at the last position against the first
        if len(cell.positions) > 1:
            first, last = cell.positions[0], cell.positions[-1]
            gains = [r.loss_by_position[last] - r.loss_by_position[first] for r in cell.runs]
            mask = "causal" if cell.causal else "non-causal"
            where = f"{cell.variant}{pos_note(cell.pos_emb, cells)}, {mask}, dropout {cell.placement}"
            measure = f"Δ val loss (position {last} − {first})"
            found.append(Effect("context", where, measure, *mean_interval(gains)))
    for (variant, pos_emb, causal, rates), cell in by_key.items():
        learned = by_key.get((variant, "learned", causal, rates))
        if pos_emb != "learned" and learned is not None:
            where = f"{variant}, {'causal' if causal else 'non-causal'}, dropout {cell.placement}"
            for measure, field in (("best val", "best_val_loss"), ("final val", "final_val_loss"),
                                   ("val causal-mask", "val_loss_causal")):  # fmt: skip
                add("positions", where, f"Δ {measure} ({pos_emb} − learned)", cell, learned, field)
    return found
