"""Shared fixtures: composed configs that train in seconds and write only under a temporary directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from attention_lab.config import CONF_DIR

ROOT = Path(__file__).resolve().parents[1]
VERDICT = ROOT / "data" / "the-verdict.txt"

FAST = [
    "trainer.max_epochs=1",
    "trainer.enable_model_summary=false",
    "callbacks.progress_bar=null",
    "callbacks.checkpoints=null",
    "callbacks.tensorboard_extras.attention_maps=false",
    "callbacks.tensorboard_extras.sample_tokens=3",
]

WITH_CHECKPOINTS = [o for o in FAST if o != "callbacks.checkpoints=null"]

# A micro model and two batches: for runs whose point is what happens around training (CLI, sweeps, NaN).
MICRO = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.enable_model_summary=false",
    "callbacks.progress_bar=null",
    "callbacks.tensorboard_extras.attention_maps=false",
    "callbacks.tensorboard_extras.sample_tokens=1",
    "model.emb_dim=16",
    "model.context_length=16",
    "model.n_layers=1",
    "data.batch_size=2",
]


def compose_config(*overrides: str, log_dir: Path | None = None, config_name: str = "config") -> DictConfig:
    """Compose conf/<config_name>.yaml with `overrides`, as the command line would."""
    extra = [f"paths.log_dir={log_dir}"] if log_dir is not None else []
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name=config_name, overrides=[*extra, *overrides], return_hydra_config=False)


@pytest.fixture(scope="session")
def verdict_text() -> str:
    if not VERDICT.is_file():
        pytest.fail(f"{VERDICT} is missing: copy ../shared/data/the-verdict.txt there (as .ci/run does)")
    return VERDICT.read_text(encoding="utf-8")


@pytest.fixture
def fast_config(tmp_path: Path):
    """A factory: fast_config("attention=causal", ...) → a config for a seconds-long tiny run."""

    def make(*overrides: str) -> DictConfig:
        return compose_config(*FAST, *overrides, log_dir=tmp_path / "logs")

    return make


def run_train_script(*overrides: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python train.py <overrides>` as a user runs it, with this checkout's sources first on the path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, str(ROOT / "train.py"), *overrides],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_module(module: str, *overrides: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m <module> <overrides>` as a user runs it, with this checkout's sources first on the path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    env.pop("HYDRA_FULL_ERROR", None)
    return subprocess.run(
        [sys.executable, "-m", module, *overrides],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def grid_sweep(tmp_path_factory) -> Path:
    """The 2×2×2 grid causal {true, false} × dropout {0.0, 0.1} × seed {1, 2} of `sweep=mask_dropout`, one
    short epoch per run, run once per session through the user's command; returns the sweep's TensorBoard
    parent."""
    log_dir = tmp_path_factory.mktemp("grid") / "logs"
    done = run_train_script(
        "sweep=mask_dropout",
        "attention.dropout=0.0,0.1",  # the command line narrows the sweep config's grid
        "seed=1,2",  # and adds a seed axis: the report aggregates over seeds
        f"paths.log_dir={log_dir}",
        *FAST,
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "callbacks.tensorboard_extras.attention_maps=true",  # heatmaps are among the tags a sweep writes
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return log_dir / "mask_dropout_tiny"
