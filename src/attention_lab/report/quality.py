"""What the runs of each data kind are judged by, in the report: the one table of it, keyed by the data kind
of the runs' settings (read once, as each run is loaded: report/runs.py).

A text's runs by their best val loss (lower is better), the causal ones only (a model without the mask reads
the answer: its loss says nothing of its quality), their variants also at equal training time; a recall
task's runs by their accuracy (higher is better), every cell, per number of pairs, drawn by default as
quality against memory."""

from __future__ import annotations

from dataclasses import dataclass

REFERENCE = "mha"  # what the other variants are compared with


@dataclass(frozen=True)
class Quality:
    """What a run is judged by: a RunSummary field, its curve over validations and which way is better."""

    field: str
    curve: str  # the RunSummary curve whose last quarter tells whether it still improved
    name: str  # in tables and Δ labels
    curve_name: str  # what that curve shows
    label: str  # a figure's axis
    higher_is_better: bool
    share: bool  # a share of 0–1, often all or nothing per seed: each seed's curve drawn, the axis 0–1
    held: str  # the axis that, besides the variant, tells its points apart: pairs, or the data set
    judges_open_runs: bool  # whether runs without the mask are judged too
    memory_by_default: bool  # the report's default figure: quality against memory, else the curves
    compares_time: bool  # variants of different speed are also compared at equal training time

    def judged(self, causal: bool | None) -> bool:
        return self.judges_open_runs or causal is not False


QUALITY = {
    "text": Quality("best_val_loss", "val_curve", "best val loss", "val loss",
                    "val loss (nats; lower is better)", higher_is_better=False, share=False, held="data",
                    judges_open_runs=False, memory_by_default=False, compares_time=True),
    "recall": Quality("accuracy", "accuracy_curve", "recall accuracy", "accuracy",
                      "recall accuracy (share of questions)", higher_is_better=True, share=True, held="pairs",
                      judges_open_runs=True, memory_by_default=True, compares_time=False),
}  # fmt: skip
