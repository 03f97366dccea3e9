"""How far a cell's runs had learned: what the runs of a data kind are judged by, whether they were still
improving at the end, the best of a grid of learning rates, and the val loss at an equal training time.

- **Quality**, by data kind (report/quality.py): a text's best val loss, a recall task's accuracy.
- **Still learning**: the change of a run's val loss (recall: accuracy) over the last quarter of its
  training, from its validation at 3/4 of its last step to its last; a cell is *still learning* where the
  mean change over its seeds improves beyond the 95% t-interval, *getting worse* where it worsens beyond it
  (overfitting), else *settled*; a cell with a run that stopped before its last step (diverged, killed)
  says so. A finding between cells still learning is about the budget, not about what the variants can
  reach.
- **Best over the learning rate**: of cells that differ only by `optimizer.lr` and whose runs all finished,
  the one with the best mean quality, as Zoology plots the best of a grid of rates per point.
- **Equal time**: a run's val loss at the last validation it reached within a training time (the seconds
  spent in training steps, `train/seconds`), for comparing variants of different speed.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass

from attention_lab.report.quality import Quality
from attention_lab.report.runs import Curve, RunSummary
from attention_lab.report.stats import Cell, mean_interval

SETTLED, STILL_LEARNING, WORSENING, ONE_SEED = "settled", "still learning", "getting worse", "one seed"


def quality_of(cell: Cell) -> Quality:
    return cell.runs[0].quality


def last_quarter_change(curve: Curve) -> float:
    """The last value minus the value at the last validation at or before 3/4 of the last step (NaN where
    there is none: a run validated only at its end)."""
    if not curve:
        return math.nan
    end_step, end_value = curve[-1]
    earlier = [value for step, value in curve[:-1] if step <= 0.75 * end_step]
    return end_value - earlier[-1] if earlier else math.nan


@dataclass(frozen=True)
class Learning:
    """A cell's change over the last quarter of training: mean and 95% half-width over seeds, and its
    verdict (still learning, settled, getting worse, one seed: no interval; or how many runs stopped
    early)."""

    change: float
    half_width: float
    verdict: str


def learning(cell: Cell) -> Learning:
    quality = quality_of(cell)
    changes = cell.values(lambda run: last_quarter_change(getattr(run, quality.curve)))
    mean, half = mean_interval(changes)
    if stopped := sum(not run.finished for run in cell.runs):
        return Learning(mean, half, f"{stopped} of {len(cell.runs)} stopped early")
    if math.isnan(mean) or math.isnan(half):  # one seed, or validations too few to tell
        return Learning(mean, half, ONE_SEED if len(cell.runs) == 1 else "—")
    improving = mean if quality.higher_is_better else -mean
    verdict = STILL_LEARNING if improving > half else WORSENING if -improving > half else SETTLED
    return Learning(mean, half, verdict)


def best_over_lr(cells: list[Cell]) -> tuple[list[Cell], dict[object, list[float]]]:
    """Of each group of cells that differ only by the learning rate, the one with the best mean quality
    (in the order of `cells`), and for each chosen cell's axes the grid of rates it was chosen from."""
    groups: dict[object, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(dataclasses.replace(cell.axes, lr=None), []).append(cell)
    chosen, grids = [], {}
    for members in groups.values():
        quality = quality_of(members[0])  # a cell where a seed diverged or stopped is no candidate
        complete = [c for c in members if all(run.finished for run in c.runs)
                    and len(c.values(quality.field)) == len(c.runs)]  # fmt: skip
        scored = [(statistics.fmean(c.values(quality.field)), c) for c in complete]
        if not scored:
            continue
        best = (max if quality.higher_is_better else min)(scored, key=lambda pair: pair[0])[1]
        chosen.append(best)
        grids[best.axes] = sorted({c.axes.lr for c in members if c.axes.lr is not None})
    return chosen, grids


def time_at(run: RunSummary, step: int) -> float:
    """The seconds of training the run had spent by `step` (its last logged time at or before it)."""
    spent = [seconds for logged, seconds in run.train_time if logged <= step]
    return spent[-1] if spent else math.nan


def at_time(run: RunSummary, seconds: float) -> float:
    """The run's val loss at its last validation within `seconds` of training (NaN: none that early)."""
    reached = [value for step, value in run.val_curve if time_at(run, step) <= seconds]
    return reached[-1] if reached else math.nan


def train_seconds(run: RunSummary) -> float:
    """The seconds the run spent in training steps (NaN where it logged none)."""
    return run.train_time[-1][1] if run.train_time else math.nan
