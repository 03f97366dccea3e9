"""Chaos: one run SIGKILLed at three seeded random moments (in the first epoch, while a checkpoint is being
written, during validation), each time started again with the same command and ckpt_path=last, ends with
the losses of an uninterrupted run, and TensorBoard shows every step once.

A kill before the first checkpoint leaves nothing to resume: the command is then started again as it
was (a new version directory). A kill while last.ckpt is being written may leave it cut short:
ckpt_path=last then resumes from the newest checkpoint that can be read.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from attention_lab.training.resume import find_last_checkpoint
from tests.helpers import ROOT, compose_config, scalars, train, train_command, user_env

EPOCHS, BATCHES = 8, 3
RUN = [
    f"trainer.max_epochs={EPOCHS}",
    f"trainer.limit_train_batches={BATCHES}",
    "trainer.limit_val_batches=2",
    "trainer.enable_model_summary=false",
    "callbacks.progress_bar=null",
    "callbacks.tensorboard_extras.attention_maps=false",
    "callbacks.tensorboard_extras.sample_tokens=1",
    "model.emb_dim=16",
    "model.context_length=16",
    "model.n_layers=1",
    "data.batch_size=2",
    "attention.dropout=0.1",  # dropout on: a resumed run must draw the same masks
    "callbacks.checkpoints.every_minutes=0",  # last.ckpt after every epoch: kills can land in its writes
]
MARKERS = "+callbacks.chaos_markers._target_=tests.chaos_markers.PhaseMarkers"


def start(log_dir: Path, *extra: str) -> subprocess.Popen:
    command = train_command(*RUN, MARKERS, f"paths.log_dir={log_dir}", *extra)
    return subprocess.Popen(
        command, cwd=ROOT, env=user_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def kill_at(process: subprocess.Popen, phase: str, epochs: range, occurrence: int, delay: float) -> str:
    """SIGKILL `process` `delay` seconds after its `occurrence`-th `phase` marker in one of `epochs`;
    returns its output."""
    seen, output = 0, []
    for line in process.stdout:
        output.append(line)
        parts = line.split()
        if parts[:2] == ["chaos:", phase] and int(parts[2]) in epochs:
            seen += 1
            if seen == occurrence:
                time.sleep(delay)
                process.send_signal(signal.SIGKILL)
                break
    process.wait()
    return "".join(output) + process.stdout.read()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_three_kills_then_the_same_losses_and_each_step_once(tmp_path: Path) -> None:
    rng = random.Random(14)
    crash_logs = tmp_path / "crash"
    run_dir = crash_logs / "tiny" / "mha-causal-p0.1-s123"
    # The first kill falls in the first epoch; the others after it, once there is a checkpoint to go on from.
    later = range(1, EPOCHS - 1)
    moments = [("train", range(1)), ("checkpoint", later), ("validation", later)]
    for phase, epochs in moments:
        resumable = find_last_checkpoint(run_dir) is not None
        process = start(crash_logs, *(["ckpt_path=last"] if resumable else []))
        occurrence = 1 if phase == "checkpoint" else rng.randint(1, 2)
        delay = rng.uniform(0.0, 0.03) if phase == "checkpoint" else 0.0  # into the write
        output = kill_at(process, phase, epochs, occurrence, delay)
        assert process.returncode == -signal.SIGKILL, f"{phase}: not killed\n{output[-3000:]}"
    final = start(crash_logs, "ckpt_path=last")
    output = final.communicate()[0]
    assert final.returncode == 0, output[-3000:]

    uninterrupted = train(compose_config(*RUN, log_dir=tmp_path / "straight"))
    version_dir = find_last_checkpoint(run_dir).parents[1]  # the version the resumed runs went on in
    all_steps = set(range(EPOCHS * BATCHES))
    for tag in ("train/loss", "val/loss", "val_summary/train_loss"):
        expected = scalars(uninterrupted["version_dir"], tag)[tag]  # {step: value}, each step once (asserted)
        got = scalars(version_dir, tag)[tag]
        assert got.keys() == expected.keys(), tag  # nothing missing, nothing twice
        assert got == pytest.approx(expected, abs=1e-5), tag
    assert set(scalars(version_dir, "train/loss")["train/loss"]) == all_steps
