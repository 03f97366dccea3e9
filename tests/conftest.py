"""Shared fixtures: composed configs that train in seconds and write only under a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from attention_lab.config import CONF_DIR

VERDICT = Path(__file__).resolve().parents[1] / "data" / "the-verdict.txt"

FAST = [
    "trainer.max_epochs=1",
    "trainer.enable_model_summary=false",
    "progress_bar=false",
    "save_checkpoints=false",
    "log_attention_maps=false",
    "sample_tokens=3",
]


def compose_config(*overrides: str, log_dir: Path | None = None) -> DictConfig:
    """Compose conf/config.yaml with `overrides`, as `python train.py <overrides>` would."""
    extra = [f"paths.log_dir={log_dir}"] if log_dir is not None else []
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=[*extra, *overrides], return_hydra_config=False)


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
