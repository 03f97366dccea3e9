"""`run(cfg)`: check the settings, build logger, callbacks, trainer, data and model from a composed Hydra
config, and train.

The Lightning classes are built first, each through `built`: its arguments are checked against its class's
signature, and a refusal of Lightning's own checks becomes the same one line as a refused setting. So a bad
Trainer or callback setting stops the run before the text is read or a model is made."""

from __future__ import annotations

import contextlib
import errno
import importlib
import logging
import math
import shutil
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Checkpoint, ProgressBar
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

from attention_lab import tags
from attention_lab.attention import variant
from attention_lab.errors import ConfigError, DiskFullError, refusal
from attention_lab.model.leak_probe import refuse_leaks
from attention_lab.run_record import CONFIG_FILE
from attention_lab.settings import TrainSettings, checked
from attention_lab.settings.messages import check_arguments, refused_by_lightning
from attention_lab.training.resume import Resume, resolve_resume, run_dir, wait_to_sort_after_event_files


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


def built(setting: str, node: DictConfig, **kwargs: Any) -> Any:
    """hydra.utils.instantiate(node, **kwargs), its arguments checked against its class's signature first;
    a refusal raised by Lightning while building it becomes one ConfigError line naming the setting."""
    module, _, name = str(node._target_).rpartition(".")
    try:  # importlib, not Hydra's get_class, which logs every failure before it raises
        target = getattr(importlib.import_module(module), name)
    except (ImportError, ValueError, AttributeError):
        reason = "it must be the dotted path of an importable class"
        raise ConfigError(refusal(f"{setting}._target_", node._target_, reason)) from None
    arguments = OmegaConf.to_container(node, resolve=True)
    if given := next((key for key in arguments if key in kwargs), None):  # e.g. trainer.logger
        raise ConfigError(f"{setting}.{given} is not allowed: train.py sets it (callbacks and logger groups)")
    check_arguments(setting, arguments, target)
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        refused = refused_by_lightning(setting, arguments, err.__cause__ or err)
        if refused is None:
            raise
        raise refused from None


def build_callbacks(cfg: DictConfig) -> list[L.Callback]:
    """The callbacks of conf/callbacks that are not switched off (null)."""
    return [built(f"callbacks.{name}", entry) for name, entry in cfg.callbacks.items() if entry is not None]


def build_trainer(cfg: DictConfig, logger: Any, extra_callbacks: tuple[L.Callback, ...] = ()) -> L.Trainer:
    """The Trainer of conf/trainer with the callbacks of conf/callbacks. Without a checkpoint or progress-bar
    callback, Lightning's own defaults (a checkpoint every epoch, a progress bar) stay off too."""
    callbacks = [*build_callbacks(cfg), *extra_callbacks]
    return built(
        "trainer",
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
        return built("logger", cfg.logger)
    wait_to_sort_after_event_files(run_dir(cfg) / f"version_{resume.version}")
    return built("logger", cfg.logger, version=resume.version, purge_step=resume.global_step)


def disk_full(version_dir: Path) -> str:
    return (
        f"the disk is full (errno ENOSPC) while writing the run's logs in {version_dir}: free space there, "
        "or set paths.log_dir=<a directory on a disk with room>; then go on with ckpt_path=last"
    )


@contextlib.contextmanager
def disk_full_reported(version_dir: Path) -> Iterator[None]:
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
        raise DiskFullError(disk_full(version_dir)) from None
    finally:
        threading.excepthook = previous_hook


class TrainingStarted(L.Callback):
    """Marks the end of fit's setup: Lightning's last checks of the settings come before it."""

    started = False

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.started = True


@contextlib.contextmanager
def refusals_at_fit_start_reported(cfg: DictConfig, started: TrainingStarted, new_dir: Path | None
                                   ) -> Iterator[None]:  # fmt: skip
    """Lightning checks some Trainer settings only as fit sets up, against the data (val_check_interval
    against the batches of an epoch): such a refusal, naming the setting, becomes one ConfigError line, and
    the directories this run made are removed again."""
    try:
        yield
    except Exception as err:
        arguments = OmegaConf.to_container(cfg.trainer, resolve=True)
        refused = None if started.started else refused_by_lightning("trainer", arguments, err, by_value=False)
        if refused is None:
            raise
        if new_dir is not None:  # the version directory, then its run's directory if nothing else is in it
            shutil.rmtree(new_dir, ignore_errors=True)
            with contextlib.suppress(OSError):
                new_dir.parent.rmdir()
        raise refused from None


def run(cfg: DictConfig, settings: TrainSettings | None = None) -> dict[str, Any]:
    """Train as `cfg` says; return the final metrics and where the run was logged. `settings`: `cfg` as
    `checked(TrainSettings, cfg)` returned it, where the caller checked it already (train.py, before
    Lightning is imported); else it is checked here.

    Keys: train_loss (mean of the last epoch), val_loss, val_loss_causal (last validation), best_val_loss
    (inf when no validation ran), version_dir (the run's own folder: events, config.yaml, checkpoints/;
    Lightning's `logger.log_dir`).
    """
    settings = settings or checked(TrainSettings, cfg)
    resume = resolve_resume(cfg)
    quiet_lightning_logging()
    logger, started = build_logger(cfg, resume), TrainingStarted()
    trainer = build_trainer(cfg, logger, (started,))  # Lightning's checks of its settings, before any build
    record, device = variant(settings.attention.name), trainer.strategy.root_device.type
    if (problem := record.cannot_train_on(device)) is not None:  # e.g. flex on the CPU
        raise ConfigError(refusal("attention.name", record.name, problem, f"the {device} this run trains on"))
    L.seed_everything(settings.seed, workers=True, verbose=False)
    datamodule = built("data", cfg.data)
    datamodule.setup("fit")  # text and split problems surface before the model is built
    module = built("module", cfg.module)
    if settings.attention.causal:
        refuse_leaks(module.model, record.name)  # before anything is logged
    version_dir = Path(logger.log_dir)
    new_dir = None if version_dir.exists() else version_dir  # made by this run: removed again on a refusal
    if trainer.is_global_zero:
        version_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, version_dir / CONFIG_FILE, resolve=True)
    with warnings.catch_warnings():
        if resume is not None:  # going on in its own checkpoint directory is the point of resuming
            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
        with disk_full_reported(version_dir), refusals_at_fit_start_reported(cfg, started, new_dir):
            trainer.fit(module, datamodule=datamodule, ckpt_path=None if resume is None else resume.ckpt_path)
    metrics = {key: float(value) for key, value in trainer.callback_metrics.items()}
    return {  # NaN where no validation ran (e.g. trainer=debug stops after max_steps, mid-epoch)
        "train_loss": metrics.get(tags.EPOCH_TRAIN_LOSS, math.nan),
        "val_loss": metrics.get(tags.VAL_LOSS, math.nan),
        "val_loss_causal": metrics.get(tags.VAL_LOSS_CAUSAL, math.nan),
        "best_val_loss": float(module.best_val_loss),
        "version_dir": str(trainer.log_dir),  # rank zero's, on every DDP rank
    }
