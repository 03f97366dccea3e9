"""Each cell's mean over its seeds as a TensorBoard run of its own: <folder>/cells/<cell>/, beside the runs.

TensorBoard's Custom Scalars colours runs by their place in its run list, seven colours in turn, so a sweep
of a dozen runs repeats colours across the mask; its cells are few (four for sweep=mask_dropout). Filtered
to `cells/` in its run selector, the mask chart shows one line per cell, a colour each. Time Series shows
them beside the seeds. Written by the report, rewritten whole each time; the report's readers skip them
(no settings beside them).
"""

from __future__ import annotations

import shutil
import statistics
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from attention_lab import tags
from attention_lab.report.runs import Curve
from attention_lab.report.stats import Cell
from attention_lab.run_record import cell_name
from attention_lab.training.tensorboard import MASK_LAYOUT

CELLS = "cells"
# The curves a cell run holds, under the tags the mask chart reads: the next-token weight as its mean over
# layers (a layer_<i> of its own would not be one layer).
CURVES = {
    tags.VAL_LOSS: "val_curve",
    tags.VAL_LOSS_CAUSAL: "val_causal_curve",
    tags.FOCUS.format(tags.NEXT_TOKEN, "mean"): "next_token_curve",
    tags.TRAIN_LOSS: "train_curve",
    tags.VAL_ACCURACY: "accuracy_curve",
}


def mean_curve(curves: list[Curve]) -> Curve:
    """The mean over `curves` at the steps every one of them has."""
    values = [dict(curve) for curve in curves]
    steps = sorted(set.intersection(*(set(v) for v in values))) if values else []
    return [(step, statistics.fmean(v[step] for v in values)) for step in steps]


def write_cell_runs(cells: list[Cell], folder: Path) -> Path:
    """<folder>/cells/<cell's name>/ (its runs' name without the seed): each cell's mean curves and the mask
    chart's layout."""
    root = folder / CELLS
    shutil.rmtree(root, ignore_errors=True)
    for cell in cells:
        with SummaryWriter(root / cell_name(cell.runs[0].version_dir.parent.name)) as writer:
            for tag, field in CURVES.items():
                for step, value in mean_curve([getattr(run, field) for run in cell.runs]):
                    writer.add_scalar(tag, value, step)
            writer.add_custom_scalars(MASK_LAYOUT)
    return root
