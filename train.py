"""Train a GPT with one chapter 3 attention variant: `python train.py attention=mha` (see README)."""

import logging
import os
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

import attention_lab.config  # noqa: F401  (registers the ${project_root:} resolver used by conf/)
from attention_lab.errors import ConfigError, SweepJobError

log = logging.getLogger("attention_lab")


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    from attention_lab.train import run  # imported here so that `--help` stays fast

    try:
        metrics = run(cfg)
    except ConfigError as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        if HydraConfig.get().mode == RunMode.MULTIRUN:  # log it, let the other jobs run, exit 1 at the end
            log.error("%s", err)
            raise SweepJobError(f"error: {err}") from None
        sys.exit(f"error: {err}")
    if rank_zero_only.rank == 0:  # DDP runs this function once per process: report once
        log.info(
            "train loss %.3f · val loss %.3f (best %.3f, causal-mask %.3f) · logs in %s",
            metrics["train_loss"],
            metrics["val_loss"],
            metrics["best_val_loss"],
            metrics["val_loss_causal"],
            metrics["log_dir"],
        )
    return metrics["best_val_loss"]  # what the Optuna sweeper minimises


if __name__ == "__main__":
    main()
