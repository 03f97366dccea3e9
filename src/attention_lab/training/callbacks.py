"""Callbacks that make a run safe to kill and resume, stop it when the loss stops being a number, and
evaluate it the book's way (conf/callbacks/ lists which a run uses).

RandomStateInCheckpoint   saves torch/python/numpy RNG states in each checkpoint and restores them on resume,
                          so dropout draws the same masks as in an uninterrupted run
FlushEventsOnCheckpoint   writes pending TensorBoard events to disk before each checkpoint
ConfiguredLRAfterResume   a resumed run trains with the configured optimizer.lr, not the checkpoint's
NonFiniteLossGuard        stops training at the first NaN/inf loss, before the bad update or any checkpoint
BookEvaluation            the book's `evaluate_model` every few steps: eval-mode losses on a few batches
"""

from __future__ import annotations

import logging
import math
import random
from pathlib import Path
from typing import Annotated, Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from pydantic import Field
from torch.utils.data import DataLoader

from attention_lab import tags
from attention_lab.errors import TrainingDivergedError

RNG_KEY = "rng_states"
log = logging.getLogger(__name__)


def stopped_by_steps(trainer: L.Trainer) -> bool:
    """trainer.max_steps is reached (None or -1: no limit)."""
    return 0 < (trainer.max_steps or -1) <= trainer.global_step


def is_final_epoch(trainer: L.Trainer) -> bool:
    """Whether the epoch now running is the run's last: max_epochs reached (None or -1: no limit), max_steps
    reached, or the run asked to stop (early stopping, the NaN guard)."""
    return (
        0 < (trainer.max_epochs or -1) <= trainer.current_epoch + 1
        or stopped_by_steps(trainer)
        or trainer.should_stop
    )


def is_last_validation(trainer: L.Trainer) -> bool:
    """Whether no validation follows this one: the run stops here, or it is in its final epoch and fewer
    training steps remain than lie between two validations (`trainer.val_check_interval` can put the last
    one a few batches before the epoch's end)."""
    if trainer.should_stop or stopped_by_steps(trainer):
        return True
    left = trainer.estimated_stepping_batches - trainer.global_step
    return is_final_epoch(trainer) and (trainer.is_last_batch or left < trainer.val_check_batch)


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


class RandomStateInCheckpoint(L.Callback):
    """Lightning checkpoints model, optimizer, schedulers and loop counters, but not the random number
    generators: a resumed run would draw other dropout masks than the uninterrupted one. This callback
    stores them in the checkpoint and puts them back as soon as Lightning reads it: after the model, which
    draws random initial weights, has been built, and before Lightning creates the training iterator,
    which draws the epoch's order from the global RNG under `data.shuffle=global_rng`.
    """

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        checkpoint[RNG_KEY] = rng_states()

    def on_load_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        if RNG_KEY in checkpoint:
            set_rng_states(checkpoint[RNG_KEY])


class FlushEventsOnCheckpoint(L.Callback):
    """Writes pending TensorBoard events to disk before each checkpoint: a crash can lose steps after the
    checkpoint (which the resumed run logs again), never steps before it."""

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.flush()


class NonFiniteLossGuard(L.Callback):
    """Raises TrainingDivergedError at the first NaN/inf training loss, before backward() and the optimizer
    step, and at a NaN/inf validation loss, before the checkpoint callback (which Lightning runs after the
    other callbacks) saves: the checkpoints on disk stay the last good ones."""

    def on_before_backward(
        self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor
    ) -> None:
        if not torch.isfinite(loss):
            self._stop(trainer, pl_module, tags.TRAIN_LOSS, loss.item())

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        val_loss = trainer.callback_metrics.get(tags.VAL_LOSS)
        if not trainer.sanity_checking and val_loss is not None and not math.isfinite(float(val_loss)):
            self._stop(trainer, pl_module, tags.VAL_LOSS, float(val_loss))

    @staticmethod
    def _stop(trainer: L.Trainer, pl_module: L.LightningModule, tag: str, value: float) -> None:
        lr = pl_module.optimizer_config.lr
        last = [
            Path(callback.dirpath) / f"{callback.CHECKPOINT_NAME_LAST}{callback.FILE_EXTENSION}"
            for callback in trainer.checkpoint_callbacks
            if callback.dirpath is not None
        ]
        kept = next((path for path in last if path.is_file()), None)
        step, epoch = trainer.global_step, trainer.current_epoch
        raise TrainingDivergedError(diverged(tag, value, step, epoch, lr, kept))


def diverged(tag: str, value: float, step: int, epoch: int, lr: float, kept: Path | None) -> str:
    """The NaN guard's message: where the loss stopped being a number, the likely cause, and the way on."""
    after = (
        f"The last good checkpoint is {kept}: go on from it with a smaller rate, "
        "`ckpt_path=last optimizer.lr=<smaller>`."
        if kept
        else "No checkpoint was saved."
    )
    return (
        f"{tag} became {value} at step {step} (epoch {epoch}); training stopped. The usual cause is a "
        f"learning rate too large for the model: optimizer.lr={lr:g} (try one 10x smaller). {after}"
    )


class ConfiguredLRAfterResume(L.Callback):
    """Lightning restores the optimizer from the checkpoint, learning rate included, so a resumed run would
    ignore `optimizer.lr`. After a NaN the way on is `ckpt_path=last optimizer.lr=<smaller>`: this sets
    the configured rate once training starts (a no-op for a fresh run; left alone when a scheduler owns
    the rate)."""

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.lr_scheduler_configs:
            return
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = pl_module.optimizer_config.lr


class BookEvaluation(L.Callback):
    """Section 5.2's `evaluate_model`, every `every_n_steps` optimizer steps: the mean loss, in eval mode, of
    the first `num_batches` batches of a freshly shuffled training loader and of the validation loader.

    Logged as book/train_loss and book/val_loss at the book's step number (updates done - 1, so the first
    point is "Step 000000", after one update) and printed in the book's format. The loaders are built as
    the book builds them, so each evaluation draws from torch's global RNG exactly as the book's does
    (three draws): with `data.shuffle=global_rng` the whole run follows the book's random stream.
    """

    def __init__(
        self,
        every_n_steps: Annotated[int, Field(ge=1, description="optimizer steps between evaluations")],
        num_batches: Annotated[int, Field(ge=1, description="batches of each split per evaluation")],
        label: Annotated[str, Field(min_length=1, description="the word before the step number")] = "Step",
    ) -> None:
        self.every_n_steps, self.num_batches, self.label = every_n_steps, num_batches, label

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any) -> None:
        book_step = trainer.global_step - 1
        if book_step % self.every_n_steps:
            return
        data = trainer.datamodule
        train = DataLoader(data.train_set, batch_size=data.batch_size, shuffle=True, drop_last=True)
        val = DataLoader(data.val_set, batch_size=data.batch_size)
        pl_module.eval()
        with torch.no_grad():
            train_loss, val_loss = self._mean_loss(pl_module, train), self._mean_loss(pl_module, val)
        pl_module.train()
        losses = {tags.BOOK_TRAIN_LOSS: train_loss, tags.BOOK_VAL_LOSS: val_loss}
        for logger in trainer.loggers:
            logger.log_metrics(losses, step=book_step)
        if trainer.is_global_zero:
            log.info(
                f"Ep {trainer.current_epoch + 1} ({self.label} {book_step:06d}): "
                f"Train loss {train_loss:.3f}, Val loss {val_loss:.3f}"
            )

    def _mean_loss(self, pl_module: L.LightningModule, loader: DataLoader) -> float:
        """The book's `calc_loss_loader`: the mean of per-batch mean losses over the first batches."""
        losses = []
        for inputs, targets in loader:  # iterating draws from the global RNG, as in the book
            if len(losses) == self.num_batches:
                break
            losses.append(pl_module.loss(inputs.to(pl_module.device), targets.to(pl_module.device)).item())
        return sum(losses) / len(losses) if losses else math.nan
