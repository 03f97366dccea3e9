"""What the tests share: the project's paths, the fast overrides, composing a config and running a command
line as a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TypeVar

import pytest
from omegaconf import DictConfig, OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn

from attention_lab.attention import VARIANTS
from attention_lab.cli import compose
from attention_lab.data.config import AnyData, data_config
from attention_lab.settings import TrainSettings, checked
from attention_lab.training import run
from attention_lab.training.module import LitGPT

ROOT = Path(__file__).resolve().parents[1]
VERDICT = ROOT / "data" / "the-verdict.txt"

T = TypeVar("T", bound=nn.Module)

# The base of every test run: the tiny model for one epoch, nothing optional switched on, in float32 on every
# machine (trainer.precision=auto would pick bf16 on some: tests/test_precision.py tests that choice).
FAST = [
    "trainer.max_epochs=1",
    "trainer.precision=32-true",
    "trainer.enable_model_summary=false",
    "callbacks.progress_bar=null",
    "callbacks.checkpoints=null",
    "callbacks.tensorboard_extras.attention_maps=false",
    "callbacks.tensorboard_extras.sample_tokens=3",
]
# Additions, each for tests that need it:
WITH_CHECKPOINTS = [o for o in FAST if o != "callbacks.checkpoints=null"]  # FAST, but writing checkpoints
TWO_BATCHES = ["trainer.limit_train_batches=2", "trainer.limit_val_batches=1"]
MICRO_MODEL = ["model.emb_dim=16", "model.context_length=16", "model.n_layers=1", "data.batch_size=2"]
# For runs whose point is what happens around training (command line, sweeps, resume, NaN guard).
MICRO = [*WITH_CHECKPOINTS, *TWO_BATCHES, *MICRO_MODEL]


# Values of the variants' own settings small enough to matter in models of a few dozen tokens.
SMALL_SETTINGS = {"num_kv_groups": 2, "window": 4, "kv_latent_dim": 6, "need_weights": False}


def own_settings(variant: str) -> dict[str, int]:
    """The own settings of `variant` (its registry record names them) at small values."""
    settings = VARIANTS[variant].settings.items()
    return {name: SMALL_SETTINGS[name] if own.only is None else own.only for name, own in settings}


def runnable_here(module: T, variant: str) -> T:
    """`module` as it can run on this CPU: a variant that cannot train here (flex: no backward on the CPU)
    gets its parameters frozen, so that a forward pass asks autograd for nothing."""
    if VARIANTS[variant].cannot_train_on("cpu") is not None:
        module.requires_grad_(False)
    return module


def variants_for_many_calls() -> list:
    """Every variant as a pytest parameter, for tests that call a model dozens of times (generation): one
    that cannot train on this CPU runs an uncompiled reference path there (flex: FlexAttention without
    torch.compile, slower per call than the rest together), so its case goes to the slow tier."""
    return [pytest.param(name, marks=pytest.mark.slow) if VARIANTS[name].cannot_train_on("cpu") else name
            for name in VARIANTS]  # fmt: skip


def compose_config(
    *overrides: str,
    log_dir: Path | None = None,
    config_name: str = "config",
    return_hydra_config: bool = False,
) -> DictConfig:
    """Compose conf/<config_name>.yaml with `overrides`, as the command line would; with
    `return_hydra_config`, the `hydra` node (sweeper, launcher, mode) is kept."""
    extra = [f"paths.log_dir={log_dir}"] if log_dir is not None else []
    return compose(*extra, *overrides, config_name=config_name, return_hydra_config=return_hydra_config)


def book_micro_config(experiment: str, tmp_path: Path, text: str, *overrides: str) -> DictConfig:
    """`experiment=<experiment>` (one of the book's runs) on a micro GPT and the first 4,000 characters of
    The Verdict: 14 steps per epoch, nothing optional written."""
    path = tmp_path / "verdict-start.txt"
    path.write_text(text[:4000], encoding="utf-8")
    return compose_config(
        f"experiment={experiment}",
        "model.emb_dim=16",
        "model.n_heads=2",
        "model.n_layers=1",
        "model.context_length=32",
        f"data.path={path}",
        "trainer.enable_model_summary=false",
        "callbacks.progress_bar=null",
        "callbacks.tensorboard_extras.attention_maps=false",
        "callbacks.tensorboard_extras.sample_tokens=2",
        *overrides,
        log_dir=tmp_path / "logs",
    )


def user_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell, with this checkout's sources first on the path and Hydra's
    full tracebacks off (the user sees the one-line message)."""
    env = {key: value for key, value in os.environ.items() if key != "HYDRA_FULL_ERROR"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    return {**env, **extra}


def train_command(*overrides: str) -> list[str]:
    """`python train.py <overrides>`, to run from ROOT."""
    return [sys.executable, "train.py", *overrides]


def run_command(command: list[str], *, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        command, cwd=ROOT, env=user_env(**env), capture_output=True, text=True, timeout=timeout
    )


def run_train_script(*overrides: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    """`python train.py <overrides>` as a user runs it; `env` adds environment variables."""
    return run_command(train_command(*overrides), timeout=timeout, **env)


def run_module(module: str, *overrides: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m <module> <overrides>` as a user runs it."""
    return run_command([sys.executable, "-m", module, *overrides], timeout=timeout)


def assert_mentions(message: str, *parts: str) -> None:
    """An error message names each of `parts` (the setting, its value, what is allowed), in any wording."""
    missing = [part for part in parts if part not in message]
    assert not missing, f"{missing} not in the message: {message}"


def scalars(log_dir: str | Path, prefix: str | tuple[str, ...]) -> dict[str, dict[int, float]]:
    """Every scalar tag of the run in `log_dir` that starts with `prefix` (or one of several; a whole tag
    is its own prefix), as TensorBoard shows it: {tag: {step: value}}. TensorBoard drops the steps a crash
    orphaned; a step written twice under one tag fails the calling test. (Lightning's ThroughputMonitor
    writes `validate/*` at one step per validation: ask for the project's own prefixes.)"""
    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    events.Reload()
    read = {}
    for tag in (tag for tag in events.Tags()["scalars"] if tag.startswith(prefix)):
        steps = [event.step for event in events.Scalars(tag)]
        assert len(steps) == len(set(steps)), f"{tag} has duplicated steps: {steps}"
        read[tag] = {event.step: event.value for event in events.Scalars(tag)}
    return read


def train(cfg: DictConfig) -> dict:
    """`python train.py` on a composed config: its settings checked, then the run they build."""
    return run(checked(TrainSettings, cfg))


def data_settings(*overrides: str) -> AnyData:
    """The data group of `python train.py <overrides>`, checked alone (without the rules across groups):
    what a data module takes, e.g. data_settings("data.max_length=32") for The Verdict in 32-token windows."""
    return data_config(OmegaConf.to_container(compose(*overrides), resolve=True)["data"], saved=False)


def lit_gpt(*overrides: str) -> LitGPT:
    """The LightningModule `python train.py <overrides>` builds (the same checked settings)."""
    return LitGPT.of(checked(TrainSettings, compose(*overrides)))
