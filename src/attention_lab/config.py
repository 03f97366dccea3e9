"""Config plumbing: the `${project_root:}` resolver used by conf/ and start-up validation of settings."""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from attention_lab.errors import ConfigError


def project_root() -> str:
    """The checkout holding conf/ (so paths do not depend on the cwd); $ATTENTION_LAB_ROOT overrides it."""
    if "ATTENTION_LAB_ROOT" in os.environ:
        return os.environ["ATTENTION_LAB_ROOT"]
    checkout = Path(__file__).resolve().parents[2]
    return str(checkout if (checkout / "conf").is_dir() else Path.cwd())


OmegaConf.register_new_resolver("project_root", project_root, replace=True)
CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError for settings that would fail (or silently misbehave) later in training."""
    # Imported here, not at the top: train.py imports this module for `--help`, which needs no torch.
    from attention_lab.attention import MULTI_HEAD_VARIANTS, VARIANTS

    model, attention, data = cfg.model, cfg.attention, cfg.data
    if attention.name not in VARIANTS:
        raise ConfigError(
            f"attention.name={attention.name!r} is unknown; choose one of {', '.join(VARIANTS)}"
        )
    if model.n_heads < 1 or attention.num_heads < 1:
        raise ConfigError(f"num_heads={attention.num_heads} (model.n_heads={model.n_heads}) must be >= 1")
    if attention.name in MULTI_HEAD_VARIANTS and model.emb_dim % attention.num_heads:
        raise ConfigError(
            f"model.emb_dim={model.emb_dim} is not divisible by attention.num_heads={attention.num_heads}; "
            "each head gets emb_dim / num_heads dimensions"
        )
    if attention.name not in MULTI_HEAD_VARIANTS and attention.num_heads != 1:
        raise ConfigError(f"attention={attention.name} is single-head: attention.num_heads must be 1")
    for key, value in (("attention.dropout", attention.dropout), ("model.drop_rate", model.drop_rate)):
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"{key}={value} is outside [0, 1): it is the probability of zeroing a value")
    for key, value in (
        ("data.max_length", data.max_length),
        ("data.stride", data.stride),
        ("data.batch_size", data.batch_size),
    ):
        if value < 1:
            raise ConfigError(f"{key}={value} must be >= 1")
    if data.max_length > model.context_length:
        raise ConfigError(
            f"data.max_length={data.max_length} exceeds model.context_length={model.context_length}; "
            f"the position embeddings and causal mask cover at most {model.context_length} tokens"
        )
    if not 0.0 < data.train_ratio < 1.0:
        raise ConfigError(f"data.train_ratio={data.train_ratio} must be strictly between 0 and 1")
