"""`run(settings)`: build logger, callbacks, trainer, data and model from a run's checked settings, and train.

The Lightning classes are built first, each through `built`: its arguments are checked against its class's
signature, and a refusal of Lightning's own checks becomes the same one line as a refused setting, naming
the argument without which Lightning builds it. So a bad Trainer or callback setting stops the run before
the text is read or a model is made. The data module and the LightningModule are built from the typed
settings; the settings are saved beside the run's events (config.yaml), where every reader loads them back."""

from __future__ import annotations

import contextlib
import errno
import importlib
import inspect
import logging
import math
import threading
import typing
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import Checkpoint, ProgressBar
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_info
from pydantic import ConfigDict, TypeAdapter, ValidationError

from attention_lab import tags
from attention_lab.attention import variant
from attention_lab.data.datamodule import BatchedDataModule, data_module
from attention_lab.errors import ConfigError, DiskFullError, refusal
from attention_lab.model.leak_probe import refuse_leaks
from attention_lab.settings import TrainSettings
from attention_lab.settings.messages import reason
from attention_lab.training.module import LitGPT
from attention_lab.training.resume import Resume, resolve_resume, wait_to_sort_after_event_files
from attention_lab.training.run_folder import save


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


def built(setting: str, node: dict[str, Any], **kwargs: Any) -> Any:
    """hydra.utils.instantiate(node, **kwargs), its arguments checked against its class's signature first;
    a refusal raised by the class as it is built becomes one ConfigError line naming the argument without
    which it builds (the class's message as it wrote it)."""
    module, _, name = str(node["_target_"]).rpartition(".")
    try:  # importlib, not Hydra's get_class, which logs every failure before it raises
        target = getattr(importlib.import_module(module), name)
    except (ImportError, ValueError, AttributeError):
        reason = "it must be the dotted path of an importable class"
        raise ConfigError(refusal(f"{setting}._target_", node["_target_"], reason)) from None
    arguments = {key: value for key, value in node.items() if key != "_target_"}
    if given := next((key for key in arguments if key in kwargs), None):  # e.g. trainer.logger
        raise ConfigError(f"{setting}.{given} is not allowed: train.py sets it (callbacks and logger groups)")
    check_arguments(setting, arguments, target)
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        if not isinstance(cause, ValueError | TypeError | MisconfigurationException):
            raise
        key = refused_alone(target, arguments, kwargs)
        if key is None:  # no one argument is the cause: not a refusal of a setting
            raise
        raise ConfigError(refusal(f"{setting}.{key}", arguments[key], " ".join(str(cause).split()))) from None


def check_arguments(setting: str, arguments: Mapping[str, Any], target: type) -> None:
    """Each argument a parameter of `target`, of the type (and range) its signature annotates."""
    parameters = inspect.signature(target).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    try:
        hints = typing.get_type_hints(target.__init__, include_extras=True)
    except NameError:  # names imported only for type checkers: then the names alone are checked
        hints = {}
    types = ConfigDict(arbitrary_types_allowed=True, strict=True)
    where = f"{target.__module__}.{target.__name__}"
    for key, value in arguments.items():
        if key not in parameters and not key.startswith("_") and not takes_any:  # _target_: Hydra's
            raise ConfigError(f"{setting}.{key} is not allowed: it is not an argument of {where}")
        try:
            TypeAdapter(hints.get(key, Any), config=types).validate_python(value)
        except ValidationError as err:
            meaning = "".join(f" ({m.description})" for m in getattr(hints[key], "__metadata__", ())[:1])
            raise ConfigError(refusal(f"{setting}.{key}", value, reason(err.errors()) + meaning)) from None


def refused_alone(target: type, arguments: dict[str, Any], given: Mapping[str, Any]) -> str | None:
    """The setting without which `target` builds, the other settings and what train.py passes (`given`)
    given (its info logs silenced), or None."""
    logging.disable(logging.INFO)
    try:
        for key in arguments:
            try:
                target(**{other: value for other, value in arguments.items() if other != key}, **given)
            except (ValueError, TypeError, MisconfigurationException):
                continue
            return key
    finally:
        logging.disable(logging.NOTSET)
    return None


def build_callbacks(settings: TrainSettings) -> list[L.Callback]:
    """The callbacks of conf/callbacks that are not switched off (null)."""
    entries = settings.callbacks.items()
    return [built(f"callbacks.{name}", entry) for name, entry in entries if entry is not None]


def build_trainer(settings: TrainSettings, logger: Any, extra_callbacks: tuple[L.Callback, ...] = ()
                  ) -> L.Trainer:  # fmt: skip
    """The Trainer of conf/trainer with the callbacks of conf/callbacks (and `extra_callbacks`). Without a
    checkpoint or progress-bar callback, Lightning's own defaults (a checkpoint every epoch, a progress
    bar) stay off too."""
    callbacks = [*build_callbacks(settings), *extra_callbacks]
    return built(
        "trainer",
        settings.trainer.model_dump(by_alias=True, exclude_unset=True),  # Lightning's defaults where unset
        logger=logger,
        callbacks=callbacks,
        enable_progress_bar=any(isinstance(c, ProgressBar) for c in callbacks),
        enable_checkpointing=any(isinstance(c, Checkpoint) for c in callbacks),
    )


def build_logger(settings: TrainSettings, resume: Resume | None) -> Logger:
    """The configured logger; a resumed run logs into its checkpoint's version directory, and TensorBoard
    drops what the interrupted run logged after the checkpoint (`purge_step`)."""
    node = settings.logger.model_dump(by_alias=True)
    if resume is None or resume.version is None:
        return built("logger", node)
    wait_to_sort_after_event_files(settings.run_dir / f"version_{resume.version}")
    return built("logger", node, version=resume.version, purge_step=resume.global_step)


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


def check_validation_interval(trainer: L.Trainer, datamodule: BatchedDataModule) -> None:
    """Lightning's rule for a whole number of batches between validations, checked before anything is
    written: at most the batches of an epoch, unless validations are counted across epochs."""
    interval = trainer.val_check_interval
    if not isinstance(interval, int) or trainer.check_val_every_n_epoch is None:
        return
    per_process = math.ceil(len(datamodule.train_set) / trainer.world_size)  # the sampler pads to it
    batches = per_process // datamodule.batch_size
    limit = trainer.limit_train_batches
    batches = min(batches, limit) if isinstance(limit, int) else int(batches * limit)
    if interval > batches:
        reason = (f"it must be <= the {batches} training batches of an epoch, or count across epochs with "
                  "trainer.check_val_every_n_epoch=null")
        raise ConfigError(refusal("trainer.val_check_interval", interval, reason))


def run(settings: TrainSettings) -> dict[str, Any]:
    """Train as the checked `settings` say; return the final metrics and where the run was logged.

    Keys: train_loss (mean of the last epoch), val_loss, val_loss_causal (last validation), best_val_loss
    (inf when no validation ran), version_dir (the run's own folder: events, config.yaml, checkpoints/;
    Lightning's `logger.log_dir`).
    """
    resume = resolve_resume(settings)
    quiet_lightning_logging()
    if why := settings.trainer.precision_chosen_because:  # once, on rank zero
        rank_zero_info(f"precision {settings.trainer.precision} (trainer.precision=auto: {why})")
    logger = build_logger(settings, resume)
    trainer = build_trainer(settings, logger)  # Lightning's checks of its settings, before any build
    record, device = variant(settings.attention.name), trainer.strategy.root_device.type
    if (problem := record.cannot_train_on(device)) is not None:  # e.g. flex on the CPU
        raise ConfigError(refusal("attention.name", record.name, problem, f"the {device} this run trains on"))
    L.seed_everything(settings.seed, workers=True, verbose=False)
    datamodule = data_module(settings.data)
    datamodule.setup("fit")  # text and split problems surface before the model is built
    check_validation_interval(trainer, datamodule)
    module = LitGPT.of(settings)
    if settings.attention.causal:
        refuse_leaks(module.model, record.name)  # before anything is logged
    version_dir = Path(logger.log_dir)
    if trainer.is_global_zero:
        version_dir.mkdir(parents=True, exist_ok=True)
        save(settings, version_dir)
    with warnings.catch_warnings():
        if resume is not None:  # going on in its own checkpoint directory is the point of resuming
            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
        with disk_full_reported(version_dir):
            trainer.fit(module, datamodule=datamodule, ckpt_path=None if resume is None else resume.ckpt_path)
    metrics = {key: float(value) for key, value in trainer.callback_metrics.items()}
    return {  # NaN where no validation ran (e.g. trainer=debug stops after max_steps, mid-epoch)
        "train_loss": metrics.get(tags.EPOCH_TRAIN_LOSS, math.nan),
        "val_loss": metrics.get(tags.VAL_LOSS, math.nan),
        "val_loss_causal": metrics.get(tags.VAL_LOSS_CAUSAL, math.nan),
        "best_val_loss": float(module.best_val_loss),
        "version_dir": str(trainer.log_dir),  # rank zero's, on every DDP rank
    }
