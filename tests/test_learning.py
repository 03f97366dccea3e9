"""The report's budget columns: whether a cell was still learning over the last quarter of its training, the
best of a grid of learning rates, the variants at equal steps and at equal training time, and the results
file beside the figure."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from attention_lab.errors import ConfigError
from attention_lab.report import load_cells, report
from attention_lab.report.budget import budget_tables
from attention_lab.report.learning import (
    SETTLED,
    STILL_LEARNING,
    WORSENING,
    best_over_lr,
    last_quarter_change,
    learning,
)
from attention_lab.report.memory import memory_rows
from attention_lab.report.quality import QUALITY
from attention_lab.report.runs import RunSummary
from attention_lab.report.stats import group_cells
from attention_lab.run_record import RunAxes


def summary(variant: str, seed: int, val: list[float], *, lr: float = 1e-3, seconds_per_step: float = 1.0,
            accuracy: list[float] | None = None, finished: bool = True) -> RunSummary:  # fmt: skip
    """A run validated every 100 steps with these val losses (and accuracies), trained at a steady speed."""
    steps = [100 * (i + 1) - 1 for i in range(len(val))]
    kind = "recall" if accuracy else "text"
    axes = RunAxes(data=kind, pairs=16 if accuracy else None, variant=variant, layers=2, causal=True,
                   dropout=0.0, lr=lr, seed=seed)  # fmt: skip
    return RunSummary(
        f"{variant}-{lr}-{seed}", axes, QUALITY[kind], math.nan, val[-1], min(val), val[-1], math.nan, [],
        list(zip(steps, val, strict=True)), [], accuracy=accuracy[-1] if accuracy else math.nan,
        accuracy_curve=list(zip(steps, accuracy, strict=True)) if accuracy else [],
        train_time=[(step, (step + 1) * seconds_per_step) for step in range(steps[-1] + 1)],
        finished=finished, version_dir=Path(f"{variant}-causal-p0.0-s{seed}-lr{lr}/version_0"),
    )  # fmt: skip


def test_the_last_quarter_runs_from_the_validation_at_three_quarters_of_the_steps() -> None:
    curve = [(99, 3.0), (199, 2.5), (299, 2.2), (399, 2.1)]
    assert last_quarter_change(curve) == pytest.approx(2.1 - 2.2)  # from the validation after step 300
    assert math.isnan(last_quarter_change([(399, 2.1)]))  # validated once, at its end


def test_a_cell_improving_beyond_seed_noise_is_still_learning_and_a_flat_one_settled() -> None:
    falling = group_cells([summary("mha", s, [3.0, 2.5, 2.2, 2.0 - 0.01 * s]) for s in (1, 2, 3)])[0]
    flat = group_cells([summary("mha", s, [3.0, 2.5, 2.2 + 0.01 * s, 2.2 - 0.01 * s]) for s in (1, 2, 3)])[0]
    assert learning(falling).verdict == STILL_LEARNING and learning(falling).change < 0
    assert learning(flat).verdict == SETTLED
    rising = group_cells([summary("mha", s, [3.0, 2.5, 2.2, 2.4 + 0.01 * s]) for s in (1, 2, 3)])[0]
    assert learning(rising).verdict == WORSENING  # overfitting
    stopped = [summary("mha", s, [3.0, 2.5, 2.2, 2.0], finished=s != 2) for s in (1, 2, 3)]
    assert learning(group_cells(stopped)[0]).verdict == "1 of 3 stopped early"
    accuracies = [[0.2, 0.3, 0.5 + 0.01 * s, 0.9] for s in (1, 2, 3)]
    recall = [summary("gru", s, [3.0, 2.0, 2.5, 2.5], accuracy=accuracies[s - 1]) for s in (1, 2, 3)]
    assert learning(group_cells(recall)[0]).verdict == STILL_LEARNING  # recall: by its accuracy, rising


def test_each_variant_is_taken_at_its_best_learning_rate_of_the_grid() -> None:
    runs = [summary("mha", s, [1.0], lr=lr, accuracy=[acc]) for s in (1, 2, 3)
            for lr, acc in ((1e-3, 0.9), (3e-3, 0.99), (1e-2, 0.5))]  # fmt: skip
    runs += [
        summary("gqa", s, [1.0], lr=lr, accuracy=[acc])
        for s in (1, 2, 3)
        for lr, acc in ((1e-3, 0.95), (3e-3, 1.0))
    ]
    runs[-3] = summary("gqa", 2, [1.0], lr=3e-3, accuracy=[1.0], finished=False)  # (seed 2, 3e-3) diverged
    chosen, grids = best_over_lr(group_cells(runs))
    assert {c.axes.variant: c.axes.lr for c in chosen} == {"mha": 3e-3, "gqa": 1e-3}
    assert grids[chosen[0].axes] == [1e-3, 3e-3, 1e-2]
    headers, rows = memory_rows(group_cells(runs))
    table = {row[0]: dict(zip(headers, row, strict=True)) for row in rows}
    assert table["mha"]["lr (best of)"] == "0.003 (0.001, 0.003, 0.01)"
    assert table["gqa"]["recall accuracy"].startswith("0.950")
    assert table["gqa"]["Δ vs mha"].startswith("-0.040")


def test_the_variants_are_compared_at_equal_steps_and_at_equal_training_time() -> None:
    """A GRU twice as slow a step: ahead of mha at equal steps, behind it at equal time."""
    runs = [summary("mha", s, [3.0, 2.6, 2.3, 2.1 + 0.01 * s], seconds_per_step=0.5) for s in (1, 2, 3)]
    runs += [summary("gru", s, [2.8, 2.4, 2.1, 1.9 + 0.01 * s]) for s in (1, 2, 3)]
    [(title, headers, rows)] = budget_tables(group_cells(runs))
    assert "equal steps (400" in title and "equal training time (200 s" in title  # mha's 400 steps: 200 s
    gru = next(row for row in rows if row[0] == "gru")
    at_steps, at_time = headers.index("val at 400 steps"), headers.index("val at 200 s")
    assert gru[at_steps].startswith("1.920") and gru[at_steps + 1].startswith("-0.200")  # equal steps: ahead
    assert gru[at_time].startswith("2.400") and gru[at_time + 1].startswith("+0.280")  # equal time: behind


def test_the_report_writes_its_numbers_beside_its_figure(tmp_path: Path, monkeypatch, capsys) -> None:
    runs = [summary("mha", s, [3.0, 2.6, 2.3, 2.1 + 0.01 * s]) for s in (1, 2, 3)]
    monkeypatch.setattr("attention_lab.report.load_runs", lambda folder: runs)
    figure = report(tmp_path, tmp_path / "report.png", "markdown", command="python -m attention_lab.report …")
    saved = json.loads(figure.with_suffix(".json").read_text())
    assert saved["command"] == "python -m attention_lab.report …" and "commit" in saved
    assert [table["title"].split(":")[0] for table in saved["tables"]][:2] == [tmp_path.name, "learning"]
    [cell] = saved["cells"]
    assert cell["n"] == 3 and cell["steps"] == [400] and cell["train_seconds"] == [400.0] * 3
    assert cell["values"]["final_val_loss"] == pytest.approx([2.11, 2.12, 2.13])
    assert cell["learning"]["verdict"] == STILL_LEARNING
    assert (tmp_path / "cells" / "mha-causal-p0.0-lr0.001").is_dir()  # its mean curves, a TensorBoard run


def test_runs_judged_by_different_measures_are_not_reported_in_one_table(tmp_path: Path, monkeypatch) -> None:
    runs = {"a": summary("mha", 1, [2.0]), "b": summary("mha", 1, [2.0], accuracy=[0.9])}
    monkeypatch.setattr("attention_lab.report.load_runs", lambda folder: [runs[folder.name]])
    judged = r"its runs are judged by different measures \(best val loss, recall accuracy\)"
    with pytest.raises(ConfigError, match=rf"^log_dir=.*a .*b is not allowed: {judged}"):
        load_cells([tmp_path / "a", tmp_path / "b"])
