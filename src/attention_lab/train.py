"""`run(cfg)`: build data, model, logger and trainer from a composed Hydra config and train."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, RichProgressBar
from omegaconf import DictConfig, OmegaConf

from attention_lab.config import validate
from attention_lab.lit_module import LitGPT


def build_callbacks(cfg: DictConfig) -> list[L.Callback]:
    callbacks: list[L.Callback] = [LearningRateMonitor(logging_interval="epoch")]
    if cfg.save_checkpoints:
        callbacks.append(
            ModelCheckpoint(  # in <run dir>/checkpoints: last.ckpt and the best by validation loss
                filename="best-epoch{epoch:02d}-val{val/loss:.3f}",
                auto_insert_metric_name=False,
                monitor="val/loss",
                mode="min",
                save_top_k=1,
                save_last=True,
            )
        )
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


def run(cfg: DictConfig) -> dict[str, Any]:
    """Train as `cfg` says; return the final metrics and where the run was logged.

    Keys: train_loss (mean of the last epoch), val_loss, val_loss_causal (last validation), best_val_loss,
    log_dir.
    """
    validate(cfg)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")  # text and split problems surface before the model is built
    module = build_module(cfg)
    logger = instantiate(cfg.logger)
    trainer: L.Trainer = instantiate(
        cfg.trainer,
        logger=logger,
        callbacks=build_callbacks(cfg),
        enable_checkpointing=cfg.save_checkpoints,  # else Lightning adds its own checkpoint callback
    )
    if trainer.is_global_zero:
        Path(logger.log_dir).mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, Path(logger.log_dir) / "config.yaml", resolve=True)
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    metrics = trainer.callback_metrics
    return {
        "train_loss": float(metrics["hparams/train_loss"]),
        "val_loss": float(metrics["val/loss"]),
        "val_loss_causal": float(metrics["val/loss_causal"]),
        "best_val_loss": float(module.best_val_loss),
        "log_dir": str(logger.log_dir),
    }
