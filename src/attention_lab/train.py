"""`run(cfg)`: build data, model, logger and trainer from a composed Hydra config and train."""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Checkpoint, ProgressBar
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, ListConfig, OmegaConf

from attention_lab.checks import validate
from attention_lab.errors import DiskFullError
from attention_lab.resume import Resume, resolve_resume, run_dir, wait_to_sort_after_event_files


class _NoAdverts(logging.Filter):
    """Lightning suggests its cloud products (litlogger, litmodels) on every run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("💡 Tip")


def quiet_lightning_logging() -> None:
    """One line per Lightning message, without adverts or a deprecation warning Lightning itself causes.

    Importing `lightning` gives its loggers console handlers of their own, while their records also
    propagate to the root logger that Hydra configures (console and the run's train.log): every line
    would print twice. Lightning's handlers go; Hydra's stay.
    """
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _NoAdverts) for f in rank_zero.filters):
        rank_zero.addFilter(_NoAdverts())
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated")


def build_callbacks(cfg: DictConfig) -> list[L.Callback]:
    """The callbacks of conf/callbacks that are not switched off (null); an entry may be a list of them."""
    callbacks: list[L.Callback] = []
    for entry in cfg.callbacks.values():
        if entry is not None:
            built = instantiate(entry)
            callbacks.extend(built if isinstance(built, (list, ListConfig)) else [built])
    return callbacks


def build_trainer(cfg: DictConfig, logger: Any, extra_callbacks: tuple[L.Callback, ...] = ()) -> L.Trainer:
    """The Trainer of conf/trainer with the callbacks of conf/callbacks. Without a checkpoint or progress-bar
    callback, Lightning's own defaults (a checkpoint every epoch, a progress bar) stay off too."""
    callbacks = [*build_callbacks(cfg), *extra_callbacks]
    return instantiate(
        cfg.trainer,
        logger=logger,
        callbacks=callbacks,
        enable_progress_bar=any(isinstance(c, ProgressBar) for c in callbacks),
        enable_checkpointing=any(isinstance(c, Checkpoint) for c in callbacks),
    )


def build_logger(cfg: DictConfig, resume: Resume | None) -> Logger:
    """The configured logger; a resumed run logs into its checkpoint's version directory, and TensorBoard
    drops what the interrupted run logged after the checkpoint (`purge_step`)."""
    if resume is None or resume.version is None:
        return instantiate(cfg.logger)
    if not str(cfg.logger._target_).endswith("TensorBoardLogger"):
        return instantiate(cfg.logger, version=resume.version)
    wait_to_sort_after_event_files(run_dir(cfg) / f"version_{resume.version}")
    return instantiate(cfg.logger, version=resume.version, purge_step=resume.global_step)


@contextlib.contextmanager
def disk_full_reported(log_dir: Path) -> Iterator[None]:
    """A full disk while TensorBoard writes events becomes one DiskFullError line. The event writer's
    background thread, which fails first, stays quiet: the training thread reports the same error."""

    def quiet_when_disk_full(args: threading.ExceptHookArgs) -> None:
        if not (isinstance(args.exc_value, OSError) and args.exc_value.errno == errno.ENOSPC):
            previous_hook(args)

    previous_hook, threading.excepthook = threading.excepthook, quiet_when_disk_full
    try:
        yield
    except OSError as err:
        if err.errno != errno.ENOSPC:
            raise
        raise DiskFullError(
            f"the disk is full (errno ENOSPC) while writing the run's logs in {log_dir}: free space there, "
            "or set paths.log_dir=<a directory on a disk with room>; then go on with ckpt_path=last"
        ) from None
    finally:
        threading.excepthook = previous_hook


def run(cfg: DictConfig) -> dict[str, Any]:
    """Train as `cfg` says; return the final metrics and where the run was logged.

    Keys: train_loss (mean of the last epoch), val_loss, val_loss_causal (last validation), best_val_loss
    (inf when no validation ran), log_dir.
    """
    validate(cfg)
    resume = resolve_resume(cfg)
    quiet_lightning_logging()
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")  # text and split problems surface before the model is built
    module = instantiate(cfg.module)
    logger = build_logger(cfg, resume)
    trainer = build_trainer(cfg, logger)
    if trainer.is_global_zero:
        Path(logger.log_dir).mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, Path(logger.log_dir) / "config.yaml", resolve=True)
    with warnings.catch_warnings():
        if resume is not None:  # going on in its own checkpoint directory is the point of resuming
            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
        with disk_full_reported(Path(logger.log_dir)):
            trainer.fit(module, datamodule=datamodule, ckpt_path=None if resume is None else resume.ckpt_path)
    metrics = {key: float(value) for key, value in trainer.callback_metrics.items()}
    return {  # NaN where no validation ran (e.g. trainer=debug stops after max_steps, mid-epoch)
        "train_loss": metrics.get("hparams/train_loss", math.nan),
        "val_loss": metrics.get("val/loss", math.nan),
        "val_loss_causal": metrics.get("val/loss_causal", math.nan),
        "best_val_loss": float(module.best_val_loss),
        "log_dir": str(trainer.log_dir),  # rank zero's, on every DDP rank
    }
