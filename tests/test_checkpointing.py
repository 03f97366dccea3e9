"""The checkpoint policy: last.ckpt at most every `every_minutes` and after the final epoch, written
atomically (a write that fails or is interrupted leaves the previous checkpoint), a full disk reported in
one line."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import torch

from attention_lab.training import checkpoints as checkpointing
from attention_lab.training.checkpoints import AtomicCheckpointIO, CheckpointWriteError
from tests.helpers import MICRO, compose_config, train

THREE_EPOCHS = [*MICRO, "trainer.max_epochs=3"]


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The paths AtomicCheckpointIO writes, in order."""
    written: list[Path] = []
    save = AtomicCheckpointIO.save_checkpoint

    def recording(self, checkpoint, path, storage_options=None):
        written.append(Path(path))
        save(self, checkpoint, path, storage_options)

    monkeypatch.setattr(AtomicCheckpointIO, "save_checkpoint", recording)
    return written


@pytest.mark.slow
def test_by_default_one_last_ckpt_is_written_after_the_final_epoch(
    tmp_path: Path, writes: list[Path]
) -> None:
    checkpoints = Path(train(compose_config(*THREE_EPOCHS, log_dir=tmp_path))["version_dir"]) / "checkpoints"
    assert writes == [checkpoints / "last.ckpt"]
    assert sorted(p.name for p in checkpoints.iterdir()) == ["last.ckpt"]  # no best, no temporary file
    saved = torch.load(checkpoints / "last.ckpt", map_location="cpu", weights_only=False)
    assert saved["global_step"] == 3 * 2 and "optimizer_states" in saved


@pytest.mark.slow
def test_every_minutes_zero_writes_last_ckpt_after_every_epoch(tmp_path: Path, writes: list[Path]) -> None:
    train(compose_config(*THREE_EPOCHS, "callbacks.checkpoints.every_minutes=0", log_dir=tmp_path))
    assert [path.name for path in writes] == ["last.ckpt"] * 3


def failing_save(error: BaseException):
    """A torch.save that writes part of the file, then fails as a full disk or a kill would."""

    def save(obj, file):
        file.write(b"partial checkpoint")
        raise error

    return save


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_a_failed_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch, error) -> None:
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"weights": torch.ones(4)}, path)
    before = path.read_bytes()
    monkeypatch.setattr(checkpointing.torch, "save", failing_save(error))
    with pytest.raises((CheckpointWriteError, KeyboardInterrupt)):
        AtomicCheckpointIO().save_checkpoint({"weights": torch.zeros(1024)}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # the temporary file is gone


@pytest.mark.slow
def test_a_full_disk_stops_training_with_one_line_naming_the_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(checkpointing.torch, "save", failing_save(OSError(errno.ENOSPC, "No space left")))
    with pytest.raises(CheckpointWriteError) as error:
        train(compose_config(*MICRO, log_dir=tmp_path))
    message = str(error.value)
    assert "\n" not in message
    assert "no space left" in message and "last.ckpt" in message and "MiB needed" in message
    assert not list(tmp_path.rglob("*.ckpt")) and not list(tmp_path.rglob("*.tmp"))
