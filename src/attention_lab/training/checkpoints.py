"""When and how a run writes its checkpoints (conf/callbacks/default.yaml: `checkpoints:`).

TimedCheckpoint     <run's version dir>/checkpoints/last.ckpt (model, optimizer, loops, RNG states: what
                    `ckpt_path=last` resumes) at an epoch end once `every_minutes` have passed since the
                    last write, and always after the final epoch; `save_best` adds best.ckpt, the weights
                    with the lowest val/loss (no optimizer state: for generation, not for resuming).
AtomicCheckpointIO  every write goes to a temporary file in the same directory, then os.replace: a kill
                    mid-write leaves the previous checkpoint, never a truncated one. A full disk raises
                    CheckpointWriteError naming the file and the space it needs.

A killed run loses at most the epochs trained since its last write: `every_minutes` of training plus the
epoch in progress. `model_from_checkpoint` reads the network back from any of them.
"""

from __future__ import annotations

import errno
import math
import os
import pickle
import shutil
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import lightning as L
import torch
from lightning.fabric.plugins import TorchCheckpointIO
from lightning.pytorch.callbacks import Checkpoint
from pydantic import Field, ValidationError

from attention_lab import tags
from attention_lab.errors import AttentionLabError, ConfigError
from attention_lab.model import GPTModel
from attention_lab.run_record import checkpoint_path
from attention_lab.settings.messages import reason
from attention_lab.training.callbacks import is_final_epoch
from attention_lab.training.module import LitGPT


class CheckpointWriteError(AttentionLabError, OSError):
    """A checkpoint could not be written (e.g. the disk is full); the previous one is left as it was."""


def tensor_bytes(value: Any) -> int:
    """Bytes of the tensors in a (nested) checkpoint dict: about the size of the file torch.save writes."""
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, dict):
        return sum(tensor_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(tensor_bytes(v) for v in value)
    return 0


def no_room(path: Path, needed: int, free: int) -> str:
    return (
        f"no space left on the device to write {path} (about {needed / 2**20:.0f} MiB needed, "
        f"{free / 2**20:.0f} MiB free in {path.parent}); the previous checkpoint is unchanged. Free some "
        "space, or train with `callbacks.checkpoints=null`."
    )


class AtomicCheckpointIO(TorchCheckpointIO):
    """torch.save straight into a temporary file beside `path`, then os.replace onto it.

    Lightning's own writer serialises the whole checkpoint into memory first (a second copy of model and
    optimizer state); this one streams it to disk.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # same directory: rename is atomic
        try:
            with open(temporary, "wb") as file:
                torch.save(checkpoint, file)
            os.replace(temporary, path)
        except OSError as err:
            Path(temporary).unlink(missing_ok=True)
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                free = shutil.disk_usage(path.parent).free
                raise CheckpointWriteError(no_room(path, tensor_bytes(checkpoint), free)) from None
            raise
        except BaseException:  # KeyboardInterrupt mid-write: no temporary file left behind
            Path(temporary).unlink(missing_ok=True)
            raise


class TimedCheckpoint(Checkpoint):
    """last.ckpt at most every `every_minutes` (at an epoch end) and after the final epoch; best.ckpt
    (weights only) when `save_best`. The names, dirpath and CHECKPOINT_NAME_LAST match ModelCheckpoint's,
    so resume, generate's `ckpt=last` and the NaN guard's message find last.ckpt the same way."""

    CHECKPOINT_NAME_LAST = "last"
    CHECKPOINT_NAME_BEST = "best"
    FILE_EXTENSION = ".ckpt"

    def __init__(
        self,
        every_minutes: Annotated[float, Field(ge=0, description="minutes between last.ckpt writes")] = 10.0,
        save_best: Annotated[bool, Field(description="also keep best.ckpt, the best weights")] = False,
        monitor: Annotated[
            Literal[tags.VAL_LOSS, tags.VAL_LOSS_CAUSAL, tags.VAL_PPL, tags.TRAIN_LOSS],
            Field(description="the metric that picks best.ckpt (lower is better)"),
        ] = tags.VAL_LOSS,
    ) -> None:
        self.every_minutes = every_minutes
        self.save_best = save_best
        self.monitor = monitor
        self.dirpath: Path | None = None
        self.best_score = math.inf
        self._last_write = time.monotonic()  # a run (fresh or resumed) counts from its start
        self._saved_at_step = -1

    @property
    def last_path(self) -> Path:
        return Path(self.dirpath) / f"{self.CHECKPOINT_NAME_LAST}{self.FILE_EXTENSION}"

    @property
    def best_path(self) -> Path:
        return Path(self.dirpath) / f"{self.CHECKPOINT_NAME_BEST}{self.FILE_EXTENSION}"

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.dirpath = checkpoint_path(trainer.log_dir or trainer.default_root_dir).parent
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:  # a configured plugin is kept
            trainer.strategy.checkpoint_io = AtomicCheckpointIO()
        self._last_write = time.monotonic()

    # Lightning validates inside the training epoch, before on_train_epoch_end: a checkpoint written here
    # holds the epoch's val/loss and counts the epoch as done (as ModelCheckpoint's default does).
    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._saved_at_step != trainer.global_step:  # stopped mid-epoch (max_steps, early stopping)
            self._save(trainer, force=True)

    def state_dict(self) -> dict[str, Any]:
        return {"best_score": self.best_score, "monitor": self.monitor}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_score = float(state_dict.get("best_score", math.inf))

    def _save(self, trainer: L.Trainer, force: bool = False) -> None:
        if trainer.global_step == self._saved_at_step or trainer.global_step == 0:
            return
        score = trainer.callback_metrics.get(self.monitor)
        better = self.save_best and score is not None and float(score) < self.best_score
        due = time.monotonic() - self._last_write >= 60 * self.every_minutes
        # save_checkpoint is collective under DDP: every process takes rank zero's decision
        better, write_last = trainer.strategy.broadcast((better, force or due or is_final_epoch(trainer)))
        if better:
            self.best_score = float(score)
            trainer.save_checkpoint(self.best_path, weights_only=True)
        if write_last:
            trainer.save_checkpoint(self.last_path, weights_only=False)
            self._saved_at_step = trainer.global_step
            self._last_write = time.monotonic()


def model_from_checkpoint(path: str | Path) -> GPTModel:
    """The GPTModel of a train.py checkpoint, rebuilt from its saved hparams, on the CPU in eval mode."""
    try:
        module = LitGPT.load_from_checkpoint(path, map_location="cpu")
    except ValueError as err:  # settings that build no model (a ValidationError: its first refused setting)
        first = err.errors()[0] if isinstance(err, ValidationError) else None
        why = f"{'.'.join(map(str, first['loc']))}: {reason([first])}" if first else str(err).splitlines()[0]
        raise ConfigError(f"ckpt={path} holds settings that build no model here: {why}") from None
    except (KeyError, TypeError, RuntimeError, pickle.UnpicklingError, EOFError):
        raise ConfigError(
            f"ckpt={path} is not a checkpoint this attention-lab writes (those hold the weights and the "
            "model, attention, optimizer and data settings); use one from logs/<experiment>/<run>/"
            "version_<n>/checkpoints/, or train the run again"
        ) from None
    return module.model.eval()
