"""Config plumbing: the `${project_root:}` resolver used by conf/ and the Hydra entry of every command line.
The checks of the settings are in attention_lab.checks."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from attention_lab.checks import validate  # noqa: F401  (the settings' checks live in attention_lab.checks)
from attention_lab.errors import AttentionLabError, SweepJobError


def project_root() -> str:
    """The checkout holding conf/ (so paths do not depend on the cwd); $ATTENTION_LAB_ROOT overrides it."""
    if "ATTENTION_LAB_ROOT" in os.environ:
        return os.environ["ATTENTION_LAB_ROOT"]
    checkout = Path(__file__).resolve().parents[2]
    return str(checkout if (checkout / "conf").is_dir() else Path.cwd())


OmegaConf.register_new_resolver("project_root", project_root, replace=True)
# ${if:<bool>,<then>,<else>}: a word for a flag, e.g. run_name's "causal"/"nomask"
OmegaConf.register_new_resolver("if", lambda flag, then, otherwise: then if flag else otherwise, replace=True)
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def hydra_command(config_name: str) -> Callable[[Callable[[DictConfig], Any]], Callable[[], Any]]:
    """`@hydra.main` over conf/<config_name>.yaml for every command line of the project (train.py,
    generate, report, kv_memory), so all take Hydra overrides, `--help` and `--cfg job`.

    An AttentionLabError (bad input, a diverged run) prints one line, `error: <message>`, and exits with
    status 1 (HYDRA_FULL_ERROR=1 shows the traceback). In a multirun the failing job logs it and the other
    jobs go on; Hydra exits 1 at the end.
    """
    import hydra  # here, not at the top: the library modules use this module without Hydra's CLI

    def decorate(task: Callable[[DictConfig], Any]) -> Callable[[], Any]:
        @functools.wraps(task)
        def guarded(cfg: DictConfig) -> Any:
            from hydra.core.hydra_config import HydraConfig
            from hydra.types import RunMode

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
