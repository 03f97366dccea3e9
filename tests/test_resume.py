"""Resume after a crash: a run SIGKILLed after its first checkpoint and resumed with ckpt_path=last ends
with the same losses as an uninterrupted run, and TensorBoard shows every step exactly once."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from attention_lab.errors import ConfigError
from tests.helpers import (
    MICRO,
    ROOT,
    assert_mentions,
    compose_config,
    scalars,
    train,
    train_command,
    user_env,
)

EPOCHS, BATCHES = 2, 3
RUN = [  # the micro model with dropout on: the resumed run must draw the same dropout masks
    *MICRO,
    f"trainer.max_epochs={EPOCHS}",
    f"trainer.limit_train_batches={BATCHES}",
    "trainer.limit_val_batches=2",
    "attention.dropout=0.1",
    "callbacks.checkpoints.every_minutes=0",  # last.ckpt after every epoch: the kill comes after epoch 1
]


def raw_steps(log_dir: str, tag: str) -> list[int]:
    """Every step written under `tag` in every event file, crashed ones included."""
    steps = []
    for path in sorted(Path(log_dir).glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            steps += [event.step for value in event.summary.value if value.tag == tag]
    return steps


def kill_after_first_checkpoint(process: subprocess.Popen, version_dir: Path) -> None:
    """SIGKILL `process` once it has written last.ckpt and logged a training step after it."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        checkpointed = (version_dir / "checkpoints" / "last.ckpt").is_file()
        if checkpointed and max(raw_steps(version_dir, "train/loss"), default=-1) >= BATCHES:
            process.send_signal(signal.SIGKILL)  # in the second epoch: steps after the checkpoint are lost
            break
        time.sleep(0.01)
    process.wait()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path: Path) -> None:
    crash_logs = tmp_path / "crash"
    version_dir = crash_logs / "tiny" / "mha-causal-p0.1-s123" / "version_0"
    command = train_command(*RUN, f"paths.log_dir={crash_logs}")
    with (tmp_path / "killed_run.log").open("w") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=user_env(), stdout=output, stderr=subprocess.STDOUT)
    killer = threading.Thread(target=kill_after_first_checkpoint, args=(process, version_dir))
    killer.start()
    uninterrupted = train(compose_config(*RUN, log_dir=tmp_path / "straight"))  # meanwhile, in this process
    killer.join()
    assert process.returncode == -signal.SIGKILL, (tmp_path / "killed_run.log").read_text()
    checkpoint = version_dir / "checkpoints" / "last.ckpt"
    saved = torch.load(checkpoint, weights_only=False)
    assert saved["global_step"] == BATCHES  # killed after epoch 1 of 2
    assert "rng_states" in saved

    resumed = train(compose_config(*RUN, "ckpt_path=last", log_dir=crash_logs))

    assert resumed["version_dir"] == str(version_dir)  # the same TensorBoard version directory
    for key in ("train_loss", "val_loss", "val_loss_causal", "best_val_loss"):
        assert resumed[key] == pytest.approx(uninterrupted[key], abs=1e-5), key
    all_steps = set(range(EPOCHS * BATCHES))
    for tag in ("train/loss", "val/loss", "train/tokens_seen"):
        expected = scalars(uninterrupted["version_dir"], tag)[tag]
        got = scalars(resumed["version_dir"], tag)[tag]
        assert got.keys() == expected.keys(), tag  # nothing missing, nothing twice
        assert got == pytest.approx(expected, abs=1e-5), tag
    assert set(scalars(resumed["version_dir"], "train/loss")["train/loss"]) == all_steps
    crashed_and_resumed = raw_steps(resumed["version_dir"], "train/loss")
    assert set(crashed_and_resumed) == all_steps
    assert len(crashed_and_resumed) > len(all_steps)  # the crashed run did log past its checkpoint
    seconds = scalars(resumed["version_dir"], "train/seconds")["train/seconds"]
    ordered = [seconds[step] for step in sorted(seconds)]
    assert ordered == sorted(ordered) and ordered[0] > 0  # the training time goes on across the resume


@pytest.fixture(scope="module")
def one_epoch_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished one-epoch run; its logs root (tests copy it before resuming into it)."""
    log_root = tmp_path_factory.mktemp("one_epoch")
    train(compose_config(*RUN, "trainer.max_epochs=1", log_dir=log_root))
    return log_root


def last_checkpoint(log_root: Path) -> Path:
    return log_root / "tiny" / "mha-causal-p0.1-s123" / "version_0" / "checkpoints" / "last.ckpt"


@pytest.mark.slow
def test_resume_from_a_path_continues_in_its_version_directory(one_epoch_run: Path, tmp_path: Path) -> None:
    shutil.copytree(one_epoch_run, tmp_path, dirs_exist_ok=True)
    checkpoint = last_checkpoint(tmp_path)
    resumed = train(compose_config(*RUN, "trainer.max_epochs=2", f"ckpt_path={checkpoint}", log_dir=tmp_path))
    assert resumed["version_dir"] == str(checkpoint.parents[1])
    assert set(scalars(resumed["version_dir"], "train/loss")["train/loss"]) == set(range(2 * BATCHES))
    assert not (checkpoint.parents[2] / "version_1").exists()
    assert len(raw_steps(resumed["version_dir"], "_hparams_/session_start_info")) == 1  # one row in HParams


def test_resume_refuses_a_checkpoint_of_another_model(one_epoch_run: Path) -> None:
    checkpoint = last_checkpoint(one_epoch_run)
    other = compose_config(*RUN, "model.emb_dim=64", f"ckpt_path={checkpoint}", log_dir=one_epoch_run)
    with pytest.raises(ConfigError) as error:
        train(other)
    assert_mentions(str(error.value), f"ckpt_path={checkpoint}", "model.emb_dim=64", "16")


def test_resume_refuses_a_finished_run(one_epoch_run: Path) -> None:
    finished = compose_config(*RUN, "trainer.max_epochs=1", "ckpt_path=last", log_dir=one_epoch_run)
    with pytest.raises(ConfigError) as error:
        train(finished)
    assert_mentions(str(error.value), "ckpt_path=", "trainer.max_epochs=1", "above 1")


def test_resume_last_without_any_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        train(compose_config(*RUN, "ckpt_path=last", log_dir=tmp_path))
    assert_mentions(str(error.value), "ckpt_path=last", "mha-causal-p0.1-s123")
    assert not (tmp_path / "tiny").exists()  # nothing half-written


def test_a_resumed_runs_event_file_sorts_after_the_crashed_runs(tmp_path: Path) -> None:
    """TensorBoard applies the purge marker only to files named before it: a run resumed within the
    second the crashed run started in must still get a later name."""
    from torch.utils.tensorboard import SummaryWriter

    from attention_lab.training.resume import wait_to_sort_after_event_files

    crashed = tmp_path / f"events.out.tfevents.{int(time.time())}.zzzz.99999999.0"  # sorts after any host
    crashed.write_bytes(b"")
    wait_to_sort_after_event_files(tmp_path)
    with SummaryWriter(str(tmp_path)) as writer:
        writer.add_scalar("train/loss", 1.0, 0)
    assert sorted(p.name for p in tmp_path.glob("events.out.tfevents.*"))[0] == crashed.name
