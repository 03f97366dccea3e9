"""A multirun goes on past a failing job: the other jobs run and keep their logs, and the sweep ends with
the failing job's message and exit status 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import MICRO

ROOT = Path(__file__).resolve().parents[1]


def test_a_failing_job_does_not_stop_the_sweep_or_lose_logs(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key != "HYDRA_FULL_ERROR"}
    env["PYTHONPATH"] = str(ROOT / "src")
    # Job 0 diverges (NaN loss), job 1 trains: a learning-rate sweep with one rate too large.
    sweep = ["-m", "optimizer.lr=1e30,5e-4"]
    command = [sys.executable, "train.py", *sweep, *MICRO, f"paths.log_dir={tmp_path}"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "error: train/loss became nan at step 1 (epoch 0)" in result.stderr
    assert "#1 : optimizer.lr=0.0005" in result.stderr + result.stdout  # the second job was launched
    run_dir = tmp_path / "tiny" / "mha-causal-p0.1-s123"
    failed, finished = run_dir / "version_0", run_dir / "version_1"
    assert not list(failed.glob("checkpoints/*.ckpt"))  # no checkpoint of NaN weights
    assert (finished / "checkpoints" / "last.ckpt").is_file()
    assert "lr: 0.0005" in (finished / "config.yaml").read_text()
    events = EventAccumulator(str(finished))
    events.Reload()
    assert [event.step for event in events.Scalars("train/loss")] == [0, 1]
    assert [event.step for event in events.Scalars("val/loss")] == [1]
