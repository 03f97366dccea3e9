"""A NaN/inf loss stops training with a message naming the step and the learning rate, and no checkpoint
of broken weights is written: the last good one stays as it was."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from attention_lab.errors import TrainingDivergedError
from tests.helpers import MICRO, assert_mentions, compose_config, train

BATCHES = 3
SMALL = [*MICRO, f"trainer.limit_train_batches={BATCHES}"]
ABSURD_LR = "optimizer.lr=1e30"  # one AdamW step moves every weight by ~1e30: the next loss is NaN


def checkpoints(log_root: Path) -> list[Path]:
    return sorted(log_root.rglob("*.ckpt"))


def test_absurd_learning_rate_stops_at_the_first_nan_step(tmp_path: Path) -> None:
    with pytest.raises(TrainingDivergedError) as error:
        train(compose_config(*SMALL, ABSURD_LR, log_dir=tmp_path))
    assert_mentions(str(error.value), "train/loss", "nan", "step 1", "optimizer.lr=1e+30", "No checkpoint")
    assert checkpoints(tmp_path) == []


def test_nan_weights_after_the_last_step_of_an_epoch_are_not_checkpointed(tmp_path: Path) -> None:
    # One batch per epoch: the loss of step 0 is finite, the update breaks the weights, validation sees NaN.
    with pytest.raises(TrainingDivergedError) as error:
        train(compose_config(*SMALL, ABSURD_LR, "trainer.limit_train_batches=1", log_dir=tmp_path))
    assert_mentions(str(error.value), "val/loss", "nan", "step 1")
    assert checkpoints(tmp_path) == []


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The logs root of a healthy one-epoch run with checkpoints."""
    log_root = tmp_path_factory.mktemp("good")
    train(compose_config(*SMALL, log_dir=log_root))
    return log_root


@pytest.mark.slow
def test_nan_after_a_checkpoint_leaves_it_intact(good_run: Path, tmp_path: Path) -> None:
    shutil.copytree(good_run, tmp_path, dirs_exist_ok=True)
    before = {path: path.read_bytes() for path in checkpoints(tmp_path)}
    last = next(path for path in before if path.name == "last.ckpt")
    diverging = compose_config(*SMALL, "trainer.max_epochs=2", "ckpt_path=last", ABSURD_LR, log_dir=tmp_path)
    with pytest.raises(TrainingDivergedError) as error:
        train(diverging)  # the resumed run takes the new learning rate: its second step is NaN
    assert_mentions(str(error.value), f"step {BATCHES + 1}", "optimizer.lr=1e+30", str(last))
    assert {path: path.read_bytes() for path in checkpoints(tmp_path)} == before
    weights = torch.load(last, weights_only=False)["state_dict"].values()
    assert all(torch.isfinite(tensor).all() for tensor in weights if tensor.is_floating_point())
