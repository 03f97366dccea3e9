"""The sweep report: one row per run with the right numbers, a PNG of the curves, a clear error."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from attention_lab.errors import ConfigError
from attention_lab.report import load_runs, main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_rows_describe_each_run_of_the_grid(grid_sweep: Path):
    runs = load_runs(grid_sweep)
    assert [(r.variant, r.causal, r.dropout) for r in runs] == [
        ("mha", True, 0.0),
        ("mha", True, 0.1),
        ("mha", False, 0.0),
        ("mha", False, 0.1),
    ]
    for run in runs:
        losses = (run.final_train_loss, run.final_val_loss, run.best_val_loss, run.val_loss_causal, run.gap)
        assert all(math.isfinite(x) and x > -20 for x in losses), run
        assert run.best_val_loss == min(v for _, v in run.val_curve)
        assert run.final_val_loss == run.val_curve[-1][1]
        assert run.gap == pytest.approx(run.final_val_loss - run.final_train_loss)
        assert len(run.train_curve) == 2  # limit_train_batches=2, one epoch
        if run.causal:
            assert run.val_loss_causal == run.final_val_loss


@pytest.mark.slow
def test_command_prints_one_row_per_run_and_writes_the_png(grid_sweep, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps to the terminal width; keep each row on one line
    png = tmp_path / "curves.png"
    main([str(grid_sweep), "--out", str(png)])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if "mha-causal_" in line]
    assert len(rows) == 4
    assert "val loss causal-mask" in out
    assert png.stat().st_size > 10_000
    assert png.read_bytes().startswith(PNG_SIGNATURE)


@pytest.mark.slow
def test_png_defaults_to_the_log_directory(grid_sweep, capsys):
    main([str(grid_sweep)])
    png = grid_sweep / "report.png"
    assert png.read_bytes().startswith(PNG_SIGNATURE)
    png.unlink()  # the grid is shared with other tests


def test_a_directory_without_runs_is_one_clear_error(tmp_path: Path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no TensorBoard runs under .*empty"):
        load_runs(tmp_path / "empty")
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "missing")])
    assert "missing" in str(exit_info.value) and "does not exist" in str(exit_info.value)
