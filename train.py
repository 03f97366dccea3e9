"""Train a GPT with one attention variant: `python train.py attention=mha` (see README)."""

import logging

from lightning.fabric.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig

from attention_lab.cli import hydra_command
from attention_lab.settings import TrainSettings, checked
from attention_lab.training import run

log = logging.getLogger("attention_lab")


@hydra_command("config")
def main(cfg: DictConfig) -> float:
    metrics = run(checked(TrainSettings, cfg))  # a bad value is one line before anything is built
    if rank_zero_only.rank == 0:  # DDP runs this function once per process: report once
        log.info(
            "train loss %.3f · val loss %.3f (best %.3f, causal-mask %.3f) · logs in %s",
            metrics["train_loss"],
            metrics["val_loss"],
            metrics["best_val_loss"],
            metrics["val_loss_causal"],
            metrics["version_dir"],
        )
    return metrics["best_val_loss"]  # what the Optuna sweeper minimises


if __name__ == "__main__":
    main()
