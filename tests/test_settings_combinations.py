"""Random combinations of settings, as a new user might type them: each is refused in one line before
anything is built, or trains a step cleanly. Never a traceback (hypothesis draws the combinations)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from attention_lab.attention import VARIANTS
from attention_lab.errors import AttentionLabError
from tests.helpers import FAST, compose_config, train

# Values for each setting: some allowed, some not, some only in some combinations.
CHOICES = {
    "attention.causal": [True, False],
    "attention.dropout": [0.0, 0.2, 0.99, 1.0, -0.1],
    "attention.qkv_bias": [True, False],
    "attention.num_kv_groups": [0, 1, 2, 3],
    "attention.window": [0, 1, 3, 40],
    "attention.kv_latent_dim": [0, 1, 5],
    "model.emb_dim": [0, 6, 8, 12, 16],
    "model.n_heads": [0, 1, 2, 3, 4],
    "model.n_layers": [0, 1, 2],
    "model.context_length": [1, 2, 5, 16],
    "model.pos_emb": ["learned", "none", "rotary"],
    "model.drop_rate": [0.0, 0.5, 1.0],
    "data.max_length": [1, 3, 16, 40],
    "data.stride": [0, 1, 7, 64],
    "data.batch_size": [0, 1, 4, 600],
    "data.train_ratio": [0.0, 0.001, 0.5, 1.0, 1.5],
    "data.shuffle": ["seeded", "global_rng", "random"],
    "optimizer.lr": [1e-3, 0.0, 50.0],
    "optimizer.warmup_steps": [0, 3],
    "optimizer.min_lr": [None, 1e-5, -1.0],
    "optimizer.weight_decay": [0.0, 0.1, -0.1],
    "trainer.max_epochs": [-2, -1, 1, 2],
    "trainer.max_steps": [-1, 1, 2],
    "trainer.limit_train_batches": [1, 2, 0.5, 1.5],
    "trainer.limit_val_batches": [0, 1, 0.5],
    "trainer.val_check_interval": [None, 0, 0.5, 1, 3, 100],
    "trainer.accumulate_grad_batches": [0, 1, 2],
    "trainer.gradient_clip_val": [None, 1.0, -1.0],
    "trainer.precision": ["32-true", "bf16-mixed", "16-mixed", 8],
    "callbacks.tensorboard_extras.sample_tokens": [0, 3, -1],
    "callbacks.tensorboard_extras.attention_maps": [True, False],
    "callbacks.checkpoints": [None, "keep"],
}
NOT_IN_EVERY_CONFIG = ("attention.num_kv_groups", "attention.window", "attention.kv_latent_dim",
                       "trainer.val_check_interval", "trainer.accumulate_grad_batches")  # fmt: skip


def shown(value: object) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


@st.composite
def combinations(draw: st.DrawFn) -> list[str]:
    variant = draw(st.sampled_from(list(VARIANTS)))
    chosen = draw(st.lists(st.sampled_from(list(CHOICES)), min_size=1, max_size=8, unique=True))
    overrides = [f"attention={variant}"]
    for key in chosen:
        value = draw(st.sampled_from(CHOICES[key]))
        if key == "callbacks.checkpoints":
            overrides += ["callbacks.checkpoints=null"] if value is None else []
            continue
        own = key.split(".")[1] in VARIANTS[variant].settings
        prefix = "++" if key in NOT_IN_EVERY_CONFIG and not own else ""
        overrides.append(f"{prefix}{key}={shown(value)}")
    return overrides


@pytest.mark.slow
@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(overrides=combinations())
def test_a_combination_is_refused_in_one_line_or_trains_a_step(overrides: list[str], tmp_path_factory):
    log_dir: Path = tmp_path_factory.mktemp("logs")
    base = [*FAST, "callbacks.tensorboard_extras.attention_maps=true", "trainer.max_steps=2",
            "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "model.emb_dim=8",
            "model.n_heads=2", "model.context_length=16", "model.n_layers=1"]  # fmt: skip
    cfg = compose_config(*base, *overrides, log_dir=log_dir)
    try:
        metrics = train(cfg)
    except AttentionLabError as err:  # a refused setting, or a diverged loss: one line, naming it
        message = str(err)
        assert "\n" not in message, message
        if " became " in message:  # the NaN guard: the run stopped at its first non-finite loss
            event("diverged, stopped in one line")
            return
        assert " is not allowed" in message, message
        assert not [path for path in log_dir.rglob("*") if path.is_file()], "a refused run wrote files"
        event("refused in one line")
        return
    event("trained")
    assert list(Path(metrics["version_dir"]).glob("events.out.tfevents.*"))
    # a number, or no validation at all (a run stopped by max_steps before its epoch ended)
    assert math.isfinite(metrics["val_loss"]) or math.isinf(metrics["best_val_loss"])
