"""Callbacks that make a run safe to kill and resume, and stop it when the loss stops being a number.

RNGStateCheckpoint   saves torch/python/numpy RNG states in each checkpoint and restores them on resume,
                     so dropout draws the same masks as in an uninterrupted run
NonFiniteLossGuard   stops training at the first NaN/inf loss, before the bad update or any checkpoint
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger

from attention_lab.errors import NonFiniteLossError

RNG_KEY = "rng_states"


def rng_states() -> dict[str, Any]:
    """The generators' states as tensors and plain Python values (Lightning loads with weights_only=True)."""
    kind, keys, position, has_gauss, cached_gauss = np.random.get_state()
    numpy_state = (kind, keys.tolist(), int(position), int(has_gauss), float(cached_gauss))
    states = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": numpy_state}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    random.setstate(states["python"])
    kind, keys, position, has_gauss, cached_gauss = states["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), position, has_gauss, cached_gauss))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class RNGStateCheckpoint(L.Callback):
    """Lightning checkpoints model, optimizer, schedulers and loop counters, but not the random number
    generators: a resumed run would draw other dropout masks than the uninterrupted one. This callback
    stores them in the checkpoint and puts them back just before training continues (after the model,
    which draws random initial weights, has been built and overwritten by the checkpoint's weights).

    It also flushes TensorBoard before each checkpoint, so every event logged before a checkpoint is on
    disk when the checkpoint is: a crash can lose steps after the checkpoint (which the resumed run logs
    again), never steps before it.
    """

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint[RNG_KEY] = rng_states()
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger) and logger._experiment is not None:
                logger.experiment.flush()

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        self._pending = checkpoint.get(RNG_KEY)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._pending is not None:
            set_rng_states(self._pending)
            self._pending = None


class NonFiniteLossGuard(L.Callback):
    """Raises NonFiniteLossError at the first NaN/inf training loss, before backward() and the optimizer
    step, and at a NaN/inf validation loss, before ModelCheckpoint (which Lightning runs after the other
    callbacks) saves: the checkpoints on disk stay the last good ones."""

    def on_before_backward(
        self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor
    ) -> None:
        if not torch.isfinite(loss):
            self._stop(trainer, pl_module, "train/loss", loss.item())

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        val_loss = trainer.callback_metrics.get("val/loss")
        if not trainer.sanity_checking and val_loss is not None and not math.isfinite(float(val_loss)):
            self._stop(trainer, pl_module, "val/loss", float(val_loss))

    @staticmethod
    def _stop(trainer: L.Trainer, pl_module: L.LightningModule, tag: str, value: float) -> None:
        lr = pl_module.hparams.get("lr")
        last = [
            Path(callback.dirpath) / f"{callback.CHECKPOINT_NAME_LAST}{callback.FILE_EXTENSION}"
            for callback in trainer.checkpoint_callbacks
            if callback.dirpath is not None
        ]
        kept = next((path for path in last if path.is_file()), None)
        after = (
            f"The last good checkpoint is {kept}: go on from it with a smaller rate, "
            "`ckpt_path=last optimizer.lr=<smaller>`."
            if kept
            else "No checkpoint was saved."
        )
        raise NonFiniteLossError(
            f"{tag} became {value} at step {trainer.global_step} (epoch {trainer.current_epoch}); training "
            f"stopped. The usual cause is a learning rate too large for the model: optimizer.lr={lr:g} "
            f"(try one 10x smaller). {after}"
        )


class ConfiguredLearningRate(L.Callback):
    """Lightning restores the optimizer from the checkpoint, learning rate included, so a resumed run would
    ignore `optimizer.lr`. After a NaN the way on is `ckpt_path=last optimizer.lr=<smaller>`: this sets
    the configured rate once training starts (a no-op for a fresh run; left alone when a scheduler owns
    the rate)."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.lr_scheduler_configs or "lr" not in pl_module.hparams:
            return
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = pl_module.hparams.lr
