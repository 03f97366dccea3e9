"""Config plumbing: the `${project_root:}` resolver used by conf/, the Hydra entry of every command line,
and start-up validation of settings."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from attention_lab.errors import AttentionLabError, ConfigError, SweepJobError


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


# (key, what it is) for settings that must be whole numbers >= 1.
POSITIVE_INTS = (
    ("model.vocab_size", "the number of token ids"),
    ("model.context_length", "the longest input, in tokens"),
    ("model.emb_dim", "the width of the model"),
    ("model.n_layers", "the number of transformer blocks"),
    ("model.n_heads", "the number of attention heads"),
    ("data.max_length", "the tokens in one training window"),
    ("data.stride", "the step between window starts, in tokens"),
    ("data.batch_size", "the windows in one batch"),
)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_int(cfg: DictConfig, key: str, minimum: int, meaning: str) -> None:
    value = OmegaConf.select(cfg, key)
    if not _is_int(value) or value < minimum:
        raise ConfigError(
            f"{key}={value!r} is not allowed: it must be a whole number >= {minimum} ({meaning})"
        )


def _check_fraction(cfg: DictConfig, key: str, *, allow_zero: bool, meaning: str) -> None:
    value = OmegaConf.select(cfg, key)
    inside = _is_number(value) and (0.0 <= value < 1.0 if allow_zero else 0.0 < value < 1.0)
    if not inside:
        interval = "[0, 1)" if allow_zero else "(0, 1), both ends excluded"
        raise ConfigError(f"{key}={value!r} is not allowed: it must be a number in {interval} ({meaning})")


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError, naming the setting, its value and what is allowed, for settings that would fail
    (or silently misbehave) later in training. Files and checkpoints are checked where they are read."""
    # Imported here, not at the top: train.py imports this module for `--help`, which needs no torch.
    from attention_lab.attention import MULTI_HEAD_VARIANTS, VARIANTS
    from attention_lab.data import check_shuffle

    model, attention, data = cfg.model, cfg.attention, cfg.data
    if attention.name not in VARIANTS:
        raise ConfigError(
            f"attention.name={attention.name!r} is unknown; choose one of {', '.join(VARIANTS)}"
        )
    for key, meaning in POSITIVE_INTS:
        _check_int(cfg, key, 1, meaning)
    _check_int(cfg, "data.num_workers", 0, "DataLoader worker processes; 0 loads in the main process")
    _check_int(cfg, "seed", 0, "seeds weights, dropout and shuffling")
    if OmegaConf.select(cfg, "callbacks.book_eval") is not None:
        _check_int(cfg, "callbacks.book_eval.every_n_steps", 1, "optimizer steps between evaluations")
        _check_int(cfg, "callbacks.book_eval.num_batches", 1, "batches of each split per evaluation")
    for key in ("attention.causal", "attention.qkv_bias"):
        if not isinstance(OmegaConf.select(cfg, key), bool):
            raise ConfigError(
                f"{key}={OmegaConf.select(cfg, key)!r} is not allowed: it must be true or false"
            )
    if attention.name in MULTI_HEAD_VARIANTS and model.emb_dim % model.n_heads:
        raise ConfigError(
            f"model.emb_dim={model.emb_dim} is not divisible by model.n_heads={model.n_heads}: each head of "
            f"attention={attention.name} gets emb_dim / n_heads dimensions; choose a multiple of n_heads"
        )
    _check_fraction(cfg, "attention.dropout", allow_zero=True, meaning="the probability of zeroing a weight")
    _check_fraction(cfg, "model.drop_rate", allow_zero=True, meaning="the probability of zeroing a value")
    _check_fraction(cfg, "data.train_ratio", allow_zero=False, meaning="the share of the text used to train")
    check_shuffle(OmegaConf.select(cfg, "data.shuffle", default="seeded"))
    if data.max_length > model.context_length:
        raise ConfigError(
            f"data.max_length={data.max_length} is not allowed with model.context_length="
            f"{model.context_length}: it must be <= {model.context_length}, the most tokens the position "
            "embeddings and the causal mask cover"
        )
    lr = OmegaConf.select(cfg, "optimizer.lr")
    if not _is_number(lr) or not 0.0 < lr < float("inf"):
        raise ConfigError(f"optimizer.lr={lr!r} is not allowed: it must be a number > 0")
    weight_decay = OmegaConf.select(cfg, "optimizer.weight_decay")
    if not _is_number(weight_decay) or weight_decay < 0:
        raise ConfigError(f"optimizer.weight_decay={weight_decay!r} is not allowed: it must be a number >= 0")
