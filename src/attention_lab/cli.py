"""The Hydra entry of every command line (train.py, generate, report, kv_memory) and the resolvers conf/ uses.

An AttentionLabError (bad input, a diverged run) prints one line, `error: <message>`, and exits with status 1
(HYDRA_FULL_ERROR=1 shows the traceback). In a multirun the failing job logs it and the other jobs go on;
Hydra exits 1 at the end.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from attention_lab.attention import VARIANTS
from attention_lab.errors import AttentionLabError
from attention_lab.hardware import resolved_precision
from attention_lab.model.config import effective_rates
from attention_lab.run_record import RunAxes

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


class SweepJobError(CompactHydraException):
    """An AttentionLabError in one job of a multirun. Hydra runs the remaining jobs, then prints the first
    such message (without a stack trace, as for its own config errors) and exits with status 1."""


def project_root() -> str:
    """The checkout holding conf/ (so paths do not depend on the cwd); $ATTENTION_LAB_ROOT overrides it."""
    if "ATTENTION_LAB_ROOT" in os.environ:
        return os.environ["ATTENTION_LAB_ROOT"]
    return str(CONF_DIR.parent if CONF_DIR.is_dir() else Path.cwd())


def variants_that_train_here() -> str:
    """The registered variants that can train on this machine (on its GPU where torch sees one, else on the
    CPU), comma-separated as a sweep takes them (`${variants_that_train_here:}`, conf/sweep/variants.yaml)."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return ",".join(name for name, record in VARIANTS.items() if record.cannot_train_on(device) is None)


OmegaConf.register_new_resolver("project_root", project_root, replace=True)
OmegaConf.register_new_resolver("variants_that_train_here", variants_that_train_here, replace=True)


def axes_of(root: DictConfig) -> RunAxes:
    """The axes of a composed config, before it is checked: each axis's key resolved on its own, the
    dropout rates of the embeddings and the shortcut at model.drop_rate where null and trainer.precision=auto
    as the hardware chooses it (as the check sets them)."""
    keys = [f.metadata["key"] for f in RunAxes.fields()] + ["model.drop_rate", "trainer.accelerator"]
    config: dict[str, Any] = {}
    for key in keys:
        value = OmegaConf.select(root, key, default=None)
        node, _, name = key.rpartition(".")
        (config.setdefault(node, {}) if node else config)[name] = value
    trainer = config.get("trainer") or {}
    trainer["precision"] = resolved_precision(trainer.get("precision"), trainer.get("accelerator"))
    return RunAxes.read({**config, "model": effective_rates(config.get("model") or {}), "trainer": trainer})


def run_axes(*, _root_: DictConfig) -> dict[str, Any]:
    """The run's axes (attention_lab.run_record.RunAxes) as its HParams row: `${run_axes:}`."""
    return axes_of(_root_).hparams()


def run_name(*, _root_: DictConfig) -> str:
    """The run's name from its axes, e.g. mha-causal-p0.1-s123: `${run_name:}` (conf/config.yaml)."""
    return axes_of(_root_).run_name


OmegaConf.register_new_resolver("run_axes", run_axes, replace=True)
OmegaConf.register_new_resolver("run_name", run_name, replace=True)


def hydra_command(config_name: str) -> Callable[[Callable[[DictConfig], Any]], Callable[[], Any]]:
    """`@hydra.main` over conf/<config_name>.yaml, so every command takes Hydra overrides, `--help` and
    `--cfg job`, and reports an AttentionLabError as one line."""

    def decorate(task: Callable[[DictConfig], Any]) -> Callable[[], Any]:
        @functools.wraps(task)
        def guarded(cfg: DictConfig) -> Any:
            try:
                return task(cfg)
            except AttentionLabError as err:
                if os.environ.get("HYDRA_FULL_ERROR") == "1":
                    raise
                if HydraConfig.get().mode == RunMode.MULTIRUN:
                    logging.getLogger("attention_lab").error("%s", err)
                    raise SweepJobError(f"error: {err}") from None
                sys.exit(f"error: {err}")

        return hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=config_name)(guarded)

    return decorate


def compose(*overrides: str, config_name: str = "config", return_hydra_config: bool = False) -> DictConfig:
    """conf/<config_name>.yaml with `overrides`, as the command line composes it (without running it); with
    `return_hydra_config`, the `hydra` node (sweeper, launcher, mode) is kept."""
    with hydra.initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra.compose(config_name, list(overrides), return_hydra_config=return_hydra_config)
