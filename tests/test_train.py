"""End to end through `train.run`: TensorBoard events written, losses going down, every variant trains."""

import math
from pathlib import Path

import pytest

from attention_lab import tags
from attention_lab.attention import VARIANTS
from attention_lab.training.run_folder import Run
from tests.helpers import scalars, train


@pytest.mark.slow
def test_a_few_steps_write_tensorboard_events_and_a_resolved_config(fast_config, tmp_path):
    # Non-causal: its val/loss and val/loss_causal differ, so that each returned key is told apart.
    metrics = train(fast_config("attention.causal=false", "trainer.limit_train_batches=3",
                              "trainer.limit_val_batches=1"))  # fmt: skip
    log_dir = Path(metrics["version_dir"])
    assert log_dir.parent == tmp_path / "logs" / "tiny" / "mha-non-causal-p0.1-s123"
    assert list(log_dir.glob("events.out.tfevents.*"))
    read = scalars(log_dir, ("train/", "val/", "val_summary/"))
    logged = {tag: list(steps.values()) for tag, steps in read.items()}
    assert {
        "train/loss",
        "val/loss",
        "val/ppl",
        "val/loss_causal",
        "train/tokens_seen",
        "train/seconds",
    } <= set(logged)
    saved = Run.load(log_dir).settings  # as they were checked: reproducible without the conf/ tree
    assert saved.attention.name == "mha" and saved.model.drop_rate == 0.1
    # What train() returns is what TensorBoard shows.
    returned = {"train_loss": tags.EPOCH_TRAIN_LOSS, "val_loss": tags.VAL_LOSS,
                "val_loss_causal": tags.VAL_LOSS_CAUSAL}  # fmt: skip
    for key, tag in returned.items():
        assert metrics[key] == pytest.approx(logged[tag][-1], rel=1e-6), key
    assert metrics["best_val_loss"] == pytest.approx(min(logged["val/loss"]), rel=1e-6)


@pytest.mark.slow
def test_training_lowers_the_loss(fast_config):
    cfg = fast_config("trainer.max_epochs=3", "optimizer.lr=2e-3", "attention.dropout=0.0")
    metrics = train(cfg)
    logged = scalars(metrics["version_dir"], ("train/", "val/"))
    losses = list(logged["train/loss"].values())
    assert len(losses) == 3 * 9  # 9 batches of 8 windows of 64 tokens per epoch
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 1.0
    val = list(logged["val/loss"].values())
    assert len(val) == 3 and val[-1] < val[0]


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_trains_for_an_epoch(fast_config, variant):
    if (problem := VARIANTS[variant].cannot_train_on("cpu")) is not None:
        pytest.skip(problem)
    metrics = train(fast_config(f"attention={variant}", "optimizer.lr=2e-3"))
    # An untrained model scores about 10.95; one epoch takes every variant below uniform guessing
    # (measured: simple 10.55, the variants with weights about 10.0).
    assert metrics["val_loss"] < math.log(50257)
    assert metrics["val_loss"] == metrics["val_loss_causal"]  # causal runs: the leak metric is the loss
