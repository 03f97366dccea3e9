"""Attention variants of different speed compared at an equal budget, counted two ways: at equal steps (the
same tokens seen) and at equal training time (the same seconds in training steps, Lightning's
ThroughputMonitor). A recurrent layer is sequential along the window, attention computes every position at
once (the book's section 3.1): on a CPU a GRU step costs more than an attention step, so the two counts can
order the variants differently. The time is the shortest of the compared runs' training times, so that
every run has a validation within it."""

from __future__ import annotations

import math
import statistics

from matplotlib.axes import Axes

from attention_lab.report.learning import QUALITY, Quality, at_time, learning, time_at, train_seconds
from attention_lab.report.stats import Cell, mean_interval, welch_difference
from attention_lab.report.tables import plus_minus

REFERENCE = "mha"


def compared_cells(cells: list[Cell]) -> list[Cell]:
    """The causal text cells of several variants that logged their training time; empty otherwise."""
    text = [c for c in cells if c.runs[0].kind == "text" and c.axes.causal is not False
            and all(run.train_time and run.val_curve for run in c.runs)]  # fmt: skip
    return text if len({c.axes.variant for c in text}) > 1 else []


def equal_time(cells: list[Cell]) -> float:
    """The seconds every compared run has trained for: the shortest run's training time."""
    return min(train_seconds(run) for cell in cells for run in cell.runs)


def budget_rows(cells: list[Cell]) -> tuple[str, list[str], list[list[str]]] | None:
    """Per variant: its steps and training seconds, its last val loss (equal steps) and its val loss at the
    last validation within the shortest run's training time (equal time), each ±95% and against mha."""
    found = compared_cells(cells)
    if not found:
        return None
    seconds = equal_time(found)
    reference = next((c for c in found if c.axes.variant == REFERENCE), None)

    def against(cell: Cell, values: list[float], twin: list[float]) -> str:
        if reference is None or cell is reference or not values or not twin:
            return "—"
        difference, half = welch_difference(values, twin)
        verdict = "beyond noise" if abs(difference) > half else "within noise"
        return f"{plus_minus(difference, half, '+')} ({verdict})"

    def last_vals(cell: Cell) -> list[float]:
        return cell.values("final_val_loss")

    def timed_vals(cell: Cell) -> list[float]:
        return [v for run in cell.runs if not math.isnan(v := at_time(run, seconds))]

    headers = ["variant", "n", "steps", "training s", "val at equal steps", "Δ vs mha",
               f"val at {seconds:,.0f} s", "Δ vs mha", "learning"]  # fmt: skip
    rows = []
    for cell in found:
        steps = {run.val_curve[-1][0] + 1 for run in cell.runs}
        times = [train_seconds(run) for run in cell.runs]
        rows.append([cell.axes.shown("variant"), str(len(cell.runs)), "/".join(map(str, sorted(steps))),
                     plus_minus(*mean_interval(times)).replace(".000", ""),
                     plus_minus(*mean_interval(last_vals(cell))),
                     against(cell, last_vals(cell), last_vals(reference) if reference else []),
                     plus_minus(*mean_interval(timed_vals(cell))),
                     against(cell, timed_vals(cell), timed_vals(reference) if reference else []),
                     learning(cell).verdict])  # fmt: skip
    title = (f"the variants at equal steps (the last validation) and at equal training time ({seconds:,.0f} "
             "s, the shortest run's): val loss ±95% t-interval over seeds, Δ vs mha with Welch's interval")
    return title, headers, rows


def curve_panel(ax: Axes, cells: list[Cell], colours: dict[str | None, str], by_time: bool,
                quality: Quality = QUALITY["text"]) -> None:  # fmt: skip
    """Each cell's val loss (recall: accuracy) over its validations, mean over seeds with a ±1 std band,
    against the optimizer step or against the training time (the mean over seeds of the seconds spent by
    that step)."""
    for cell in cells:
        curves = [dict(getattr(run, quality.curve)) for run in cell.runs]
        steps = sorted(set.intersection(*(set(curve) for curve in curves)))
        if not steps:
            continue
        columns = [[curve[s] for curve in curves] for s in steps]
        means = [statistics.fmean(column) for column in columns]
        spread = [statistics.stdev(column) if len(column) > 1 else 0.0 for column in columns]
        xs = [statistics.fmean(time_at(run, s) for run in cell.runs) for s in steps] if by_time else steps
        colour = colours.get(cell.axes.variant)
        ax.plot(xs, means, marker="o", markersize=3, linewidth=1.6, color=colour,
                label=f"{cell.axes.variant} (n={len(cell.runs)})")  # fmt: skip
        ax.fill_between(xs, [m - s for m, s in zip(means, spread, strict=True)],
                        [m + s for m, s in zip(means, spread, strict=True)], color=colour, alpha=0.15,
                        linewidth=0)  # fmt: skip
    ax.set_xlabel("training time (s spent in training steps)" if by_time else "optimizer step")
    ax.set_ylabel(quality.label)
    ax.set_title(f"{quality.curve_name} against {'training time' if by_time else 'steps'}")
