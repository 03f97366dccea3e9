"""Shared fixtures: composed configs that train in seconds and write only under a temporary directory."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from omegaconf import DictConfig

from tests.helpers import FAST, TWO_BATCHES, VERDICT, compose_config, run_train_script


@pytest.fixture(scope="session", autouse=True)
def own_cache(tmp_path_factory) -> Iterator[Path]:
    """The suite's own cache folder (XDG_CACHE_HOME, inherited by the command lines it starts): the token ids
    of its little test texts stay out of the user's ~/.cache, and no test reads ids an earlier session left.
    The tokenizer's verified ranks file is copied in, so nothing is rebuilt."""
    from attention_lab.data.tokenizer import mergeable_ranks, ranks_cache_path

    mergeable_ranks()  # the verified ranks file exists in the user's cache from here on
    user_ranks, before = ranks_cache_path(), os.environ.get("XDG_CACHE_HOME")
    cache = tmp_path_factory.mktemp("cache")
    os.environ["XDG_CACHE_HOME"] = str(cache)
    if user_ranks.is_file():
        ranks_cache_path().parent.mkdir(parents=True)
        shutil.copy(user_ranks, ranks_cache_path())
    yield cache
    if before is None:
        os.environ.pop("XDG_CACHE_HOME")
    else:
        os.environ["XDG_CACHE_HOME"] = before


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
        *TWO_BATCHES,
        "callbacks.tensorboard_extras.attention_maps=true",  # heatmaps are among the tags a sweep writes
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return log_dir / "mask_dropout_verdict_tiny"
