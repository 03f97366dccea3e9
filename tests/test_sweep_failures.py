"""A multirun goes on past a failing job: the other jobs run and keep their logs, and the sweep ends with
the failing job's message and exit status 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from attention_lab.training.run_folder import Run
from tests.helpers import MICRO, assert_mentions, run_train_script, scalars


@pytest.mark.slow
def test_a_failing_job_does_not_stop_the_sweep_or_lose_logs(tmp_path: Path) -> None:
    # Job 0 diverges (NaN loss), job 1 trains: a learning-rate sweep with one rate too large.
    sweep = ["-m", "optimizer.lr=1e30,5e-4"]
    result = run_train_script(*sweep, *MICRO, f"paths.log_dir={tmp_path}")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert_mentions(result.stderr, "error: train/loss became nan at step 1", "optimizer.lr=1e+30")
    assert "#1 : optimizer.lr=0.0005" in result.stderr + result.stdout  # the second job was launched
    run_dir = tmp_path / "tiny" / "mha-causal-p0.1-s123"
    failed, finished = run_dir / "version_0", run_dir / "version_1"
    assert not list(failed.glob("checkpoints/*.ckpt"))  # no checkpoint of NaN weights
    assert (finished / "checkpoints" / "last.ckpt").is_file()
    assert Run.load(finished).settings.optimizer.lr == 0.0005
    logged = scalars(finished, ("train/loss", "val/loss"))
    assert list(logged["train/loss"]) == [0, 1]
    assert list(logged["val/loss"]) == [1]
