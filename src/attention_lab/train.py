"""`run(cfg)`: build data, model, logger and trainer from a composed Hydra config and train."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, RichProgressBar
from omegaconf import DictConfig, OmegaConf

from attention_lab.callbacks import ConfiguredLearningRate, NonFiniteLossGuard, RNGStateCheckpoint
from attention_lab.config import validate
from attention_lab.lit_module import LitGPT
from attention_lab.resume import Resume, resolve_resume


def build_callbacks(cfg: DictConfig) -> list[L.Callback]:
    callbacks: list[L.Callback] = [
        LearningRateMonitor(logging_interval="epoch"),
        NonFiniteLossGuard(),
        RNGStateCheckpoint(),
        ConfiguredLearningRate(),
    ]
    if cfg.save_checkpoints:
        # In <run dir>/checkpoints: the best by validation loss, and last.ckpt rewritten every epoch. (One
        # callback with save_last=True would not do: Lightning then refreshes last.ckpt only when a new best
        # is saved, so it would hold the best epoch's weights, not the latest.)
        best = ModelCheckpoint(
            filename="best-epoch{epoch:02d}-val{val/loss:.3f}",
            auto_insert_metric_name=False,
            monitor="val/loss",
            mode="min",
            save_top_k=1,
        )
        callbacks += [best, ModelCheckpoint(filename="last", enable_version_counter=False)]
    if cfg.progress_bar:
        callbacks.append(RichProgressBar())
    return callbacks


def build_module(cfg: DictConfig) -> LitGPT:
    return LitGPT(
        model=OmegaConf.to_container(cfg.model, resolve=True),
        attention=OmegaConf.to_container(cfg.attention, resolve=True),
        lr=cfg.optimizer.lr,
        weight_decay=cfg.optimizer.weight_decay,
        fused_adamw=cfg.optimizer.fused,
        sample_tokens=cfg.sample_tokens,
        log_attention_maps=cfg.log_attention_maps,
        seed=cfg.seed,
    )


def build_logger(cfg: DictConfig, resume: Resume | None):
    """The configured logger; a resumed run logs into its checkpoint's version directory, and TensorBoard
    drops what the interrupted run logged after the checkpoint (`purge_step`)."""
    if resume is None or resume.version is None:
        return instantiate(cfg.logger)
    if not str(cfg.logger._target_).endswith("TensorBoardLogger"):
        return instantiate(cfg.logger, version=resume.version)
    return instantiate(cfg.logger, version=resume.version, purge_step=resume.global_step)


def run(cfg: DictConfig) -> dict[str, Any]:
    """Train as `cfg` says; return the final metrics and where the run was logged.

    Keys: train_loss (mean of the last epoch), val_loss, val_loss_causal (last validation), best_val_loss
    (inf when no validation ran), log_dir.
    """
    validate(cfg)
    resume = resolve_resume(cfg)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")  # text and split problems surface before the model is built
    module = build_module(cfg)
    logger = build_logger(cfg, resume)
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        logger=logger,
        callbacks=build_callbacks(cfg),
        enable_checkpointing=cfg.save_checkpoints,  # else Lightning adds its own checkpoint callback
    )
    if trainer.is_global_zero:
        Path(logger.log_dir).mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, Path(logger.log_dir) / "config.yaml", resolve=True)
    with warnings.catch_warnings():
        if resume is not None:  # going on in its own checkpoint directory is the point of resuming
            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
        trainer.fit(module, datamodule=datamodule, ckpt_path=None if resume is None else resume.ckpt_path)
    metrics = {key: float(value) for key, value in trainer.callback_metrics.items()}
    return {  # NaN where no validation ran (e.g. trainer=debug stops after max_steps, mid-epoch)
        "train_loss": metrics.get("hparams/train_loss", math.nan),
        "val_loss": metrics.get("val/loss", math.nan),
        "val_loss_causal": metrics.get("val/loss_causal", math.nan),
        "best_val_loss": float(module.best_val_loss),
        "log_dir": str(trainer.log_dir),  # rank zero's, on every DDP rank
    }
