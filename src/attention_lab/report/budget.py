"""Attention variants of different speed compared at an equal budget, counted two ways: at equal steps (the
same tokens seen) and at equal training time (the same seconds in training steps: forward, backward and
optimizer step, `train/seconds`). A recurrent layer is sequential along the window, attention computes
every position at once (the book's section 3.1): on a CPU a GRU step costs more than an attention step, so
the two counts can order the variants differently. The time is the shortest of the compared runs' training
times, so that every run has a validation within it."""

from __future__ import annotations

import dataclasses
import math
import statistics

from matplotlib.axes import Axes

from attention_lab.report.learning import at_time, best_over_lr, learning, quality_of, time_at, train_seconds
from attention_lab.report.quality import QUALITY, REFERENCE, Quality
from attention_lab.report.runs import RunSummary
from attention_lab.report.stats import Cell, Effect, mean_interval, welch_difference
from attention_lab.report.tables import plus_minus
from attention_lab.run_record import RunAxes


def compared_cells(cells: list[Cell]) -> list[Cell]:
    """The cells of several variants whose quality is compared at equal time (a text's), judged (causal),
    whose runs finished and logged their training time, at the best learning rate of each; empty
    otherwise."""
    timed = [c for c in cells if quality_of(c).compares_time and quality_of(c).judged(c.axes.causal)
             and all(run.train_time and run.val_curve and run.finished for run in c.runs)]  # fmt: skip
    chosen, _ = best_over_lr(timed)
    return chosen if len({c.axes.variant for c in chosen}) > 1 else []


def equal_time(cells: list[Cell]) -> float:
    """The seconds every compared run has trained for: the shortest run's training time."""
    return min(train_seconds(run) for cell in cells for run in cell.runs)


def at_step(run: RunSummary, steps: int) -> float:
    """The run's val loss at its last validation after at most `steps` optimizer steps (NaN: none)."""
    reached = [value for logged, value in run.val_curve if logged + 1 <= steps]
    return reached[-1] if reached else math.nan


def budget_tables(cells: list[Cell]) -> list[tuple[str, list[str], list[list[str]]]]:
    """For each group of compared cells that differ only by the variant (one data set, depth, …): per
    variant its steps and training seconds, its val loss at the steps every run of the group made (equal
    steps) and at the last validation within the group's shortest training time (equal time), each ±95%
    and against the group's mha with its verdict."""
    groups: dict[RunAxes, list[Cell]] = {}
    for cell in compared_cells(cells):
        groups.setdefault(dataclasses.replace(cell.axes, variant=None, lr=None), []).append(cell)
    named = [f.name for f in RunAxes.fields() if len({getattr(key, f.name) for key in groups}) > 1]
    tables = []
    for key, members in groups.items():
        if len({cell.axes.variant for cell in members}) > 1:
            where = ", ".join(f"{name} {key.shown(name)}" for name in named)
            tables.append(budget_table(members, f" ({where})" if where else ""))
    return tables


def budget_table(found: list[Cell], where: str) -> tuple[str, list[str], list[list[str]]]:
    seconds, steps = equal_time(found), min(run.steps for cell in found for run in cell.runs)
    reference = next((c for c in found if c.axes.variant == REFERENCE), None)
    versus = f"Δ vs {REFERENCE}"

    def at(cell: Cell, budget: str) -> list[float]:
        values = (at_step(run, steps) if budget == "steps" else at_time(run, seconds) for run in cell.runs)
        return [value for value in values if not math.isnan(value)]

    def against(cell: Cell, budget: str) -> str:
        if reference is None or cell is reference or not at(cell, budget) or not at(reference, budget):
            return "—"
        effect = Effect("budget", budget, "", *welch_difference(at(cell, budget), at(reference, budget)))
        return f"{plus_minus(effect.difference, effect.half_width, '+')} ({effect.verdict})"

    headers = ["variant", "lr", "n", "training s", f"val at {steps:,} steps", f"{versus}, steps",
               f"val at {seconds:,.0f} s", f"{versus}, time", "learning"]  # fmt: skip
    rows = [[cell.axes.shown("variant"), cell.axes.shown("lr"), str(len(cell.runs)),
             f"{statistics.fmean(train_seconds(run) for run in cell.runs):,.0f}",
             plus_minus(*mean_interval(at(cell, "steps"))), against(cell, "steps"),
             plus_minus(*mean_interval(at(cell, "time"))), against(cell, "time"), learning(cell).verdict]
            for cell in found]  # fmt: skip
    title = (f"the variants at equal steps ({steps:,}, the fewest of a run) and at equal training time "
             f"({seconds:,.0f} s, the shortest run's){where}: val loss ±95% t-interval over seeds, {versus} "
             "with Welch's interval")
    return title, headers, rows


def curve_panel(ax: Axes, cells: list[Cell], colours: dict[str | None, str], by_time: bool,
                quality: Quality = QUALITY["text"]) -> None:  # fmt: skip
    """Each cell's val loss over its validations, mean over seeds with a ±1 std band (recall: its accuracy,
    the mean and each seed's curve), against the optimizer step or against the training time (the mean over
    seeds of the seconds spent by that step)."""
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
        if quality.share:  # often all or nothing per seed: each seed's curve, thin
            for seed in range(len(curves)):
                ax.plot(xs, [column[seed] for column in columns], linewidth=0.6, alpha=0.35, color=colour)
        else:
            ax.fill_between(xs, [m - s for m, s in zip(means, spread, strict=True)],
                            [m + s for m, s in zip(means, spread, strict=True)], color=colour, alpha=0.15,
                            linewidth=0)  # fmt: skip
    ax.set_xlabel("training time (s spent in training steps)" if by_time else "optimizer step")
    ax.set_ylabel(quality.label)
    ax.set_title(f"{quality.curve_name} against {'training time' if by_time else 'steps'}")
