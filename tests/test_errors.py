"""Bad input ends in one clear message naming the value and what is allowed, before any training, and
leaves nothing behind; from the command line it is one `error: ...` line and exit status 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.errors import MissingConfigException

from attention_lab.config import validate
from attention_lab.errors import ConfigError
from attention_lab.train import run
from tests.conftest import compose_config

ROOT = Path(__file__).resolve().parents[1]
UNREACHABLE = "http://127.0.0.1:9/the-verdict.txt"  # the discard port: nothing listens, no network used


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("attention.name=flash", r"attention.name='flash' is unknown; choose one of simple, self_v1, "),
        ("model.emb_dim=63", r"model.emb_dim=63 is not divisible by model.n_heads=4: each head of"),
        ("model.emb_dim=abc", r"model.emb_dim='abc' is not allowed: it must be a whole number >= 1"),
        ("model.n_heads=0", r"model.n_heads=0 is not allowed: it must be a whole number >= 1"),
        ("model.n_layers=0", r"model.n_layers=0 is not allowed: it must be a whole number >= 1"),
        ("attention.dropout=1.0", r"attention.dropout=1.0 is not allowed: it must be a number in \[0, 1\)"),
        ("attention.dropout=-0.1", r"attention.dropout=-0.1 is not allowed: it must be a number in \[0, 1\)"),
        ("model.drop_rate=1.5", r"model.drop_rate=1.5 is not allowed: it must be a number in \[0, 1\)"),
        ("data.max_length=100", r"data.max_length=100 is not allowed with model.context_length=64: it must "),
        ("data.max_length=0", r"data.max_length=0 is not allowed: it must be a whole number >= 1"),
        ("data.stride=0", r"data.stride=0 is not allowed: it must be a whole number >= 1"),
        ("data.batch_size=0", r"data.batch_size=0 is not allowed: it must be a whole number >= 1"),
        ("data.batch_size=2.5", r"data.batch_size=2.5 is not allowed: it must be a whole number >= 1"),
        ("data.train_ratio=1.0", r"data.train_ratio=1.0 is not allowed: it must be a number in \(0, 1\)"),
        ("data.train_ratio=0", r"data.train_ratio=0 is not allowed: it must be a number in \(0, 1\)"),
        ("data.num_workers=-1", r"data.num_workers=-1 is not allowed: it must be a whole number >= 0"),
        ("optimizer.lr=0", r"optimizer.lr=0 is not allowed: it must be a number > 0"),
        ("optimizer.lr=-1e-3", r"optimizer.lr=-0.001 is not allowed: it must be a number > 0"),
        ("attention.causal=maybe", r"attention.causal='maybe' is not allowed: it must be true or false"),
        ("data.shuffle=random", r"data.shuffle='random' is unknown; choose one of seeded, global_rng"),
        (
            "callbacks=book callbacks.book_eval.every_n_steps=0",
            r"callbacks.book_eval.every_n_steps=0 is not allowed: it must be a whole number",
        ),
        (
            "callbacks=book callbacks.book_eval.num_batches=0",
            r"callbacks.book_eval.num_batches=0 is not allowed: it must be a whole number >= 1",
        ),
    ],
)
def test_bad_setting_is_named_with_what_is_allowed(override: str, message: str) -> None:
    cfg = compose_config(*override.split())
    with pytest.raises(ConfigError, match=f"^{message}"):
        validate(cfg)


def test_shipped_configs_are_valid() -> None:
    for attention in ("simple", "self_v1", "self_v2", "causal", "mha_wrapper", "mha", "sdpa"):
        validate(compose_config(f"attention={attention}"))
    for model in ("small", "gpt2_124m"):
        validate(compose_config(f"model={model}"))


def test_unknown_model_size_lists_the_sizes() -> None:
    with pytest.raises(MissingConfigException, match=r"(?s)Could not find 'model/huge'.*tiny"):
        compose_config("model=huge")


# --- text and checkpoint files: run() stops before building anything -----------------------------------
def fails_cleanly(cfg, tmp_path: Path, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run(cfg)
    assert not (tmp_path / "logs" / "tiny").exists()  # no log directory was started


def test_missing_text_and_failed_download(fast_config, tmp_path: Path) -> None:
    text = tmp_path / "data" / "missing.txt"
    cfg = fast_config(f"data.path={text}", f"data.url={UNREACHABLE}")
    fails_cleanly(cfg, tmp_path, rf"^The training text {text} does not exist and downloading {UNREACHABLE}")
    assert not text.parent.exists()  # no half-written download
    cfg = fast_config(f"data.path={text}", "data.url=null")
    fails_cleanly(cfg, tmp_path, "does not exist and no URL to download it from is configured")


def test_empty_text(fast_config, tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text(" \n\n")
    cfg = fast_config(f"data.path={tmp_path / 'empty.txt'}", "data.sha256=null")
    fails_cleanly(cfg, tmp_path, r"empty.txt is empty; give a UTF-8 text")


def test_text_not_utf8(fast_config, tmp_path: Path) -> None:
    (tmp_path / "latin1.txt").write_bytes("Gisburn's café".encode("latin-1"))
    cfg = fast_config(f"data.path={tmp_path / 'latin1.txt'}", "data.sha256=null")
    fails_cleanly(cfg, tmp_path, r"latin1.txt is not UTF-8 text \(byte 13 cannot be decoded\)")


def test_split_shorter_than_one_window(fast_config, tmp_path: Path, verdict_text: str) -> None:
    (tmp_path / "short.txt").write_text("I had always thought Jack Gisburn rather a cheap genius.")
    cfg = fast_config(f"data.path={tmp_path / 'short.txt'}", "data.sha256=null")
    fails_cleanly(cfg, tmp_path, r"The train split of .*short.txt has \d+ tokens, but data.max_length=64")
    cfg = fast_config("data.train_ratio=0.995")  # The Verdict's last 0.5%: about 30 tokens
    fails_cleanly(cfg, tmp_path, r"The validation split of .* has \d+ tokens, but .* at least 65 per split")


def test_batch_larger_than_the_train_split(fast_config, tmp_path: Path) -> None:
    fails_cleanly(fast_config("data.batch_size=1000"), tmp_path, r"fewer than data.batch_size=1000")


def test_checkpoint_that_does_not_exist(fast_config, tmp_path: Path) -> None:
    cfg = fast_config(f"ckpt_path={tmp_path / 'nope.ckpt'}")
    fails_cleanly(cfg, tmp_path, r"^ckpt_path=.*nope.ckpt does not exist. Give a .ckpt file")
    fails_cleanly(cfg, tmp_path, r"the latest run named mha-causal-p0\.1-s123\.$")  # names the run


def test_checkpoint_that_is_not_a_checkpoint(fast_config, tmp_path: Path) -> None:
    (tmp_path / "notes.ckpt").write_text("not a checkpoint")
    cfg = fast_config(f"ckpt_path={tmp_path / 'notes.ckpt'}")
    fails_cleanly(cfg, tmp_path, r"notes.ckpt is not a readable checkpoint")


# --- the command line: what a user sees -------------------------------------------------------------
def train_cli(*overrides: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "HYDRA_FULL_ERROR"}
    env["PYTHONPATH"] = str(ROOT / "src")
    command = [sys.executable, "train.py", *overrides, f"paths.log_dir={tmp_path / 'logs'}"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_cli_bad_value_is_one_line_and_exit_status_1(tmp_path: Path) -> None:
    result = train_cli("model.emb_dim=63", tmp_path=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: model.emb_dim=63 is not divisible by model.n_heads=4")


def test_cli_unknown_attention_lists_the_variants(tmp_path: Path) -> None:
    result = train_cli("attention=flash", tmp_path=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "Could not find 'attention/flash'" in result.stderr
    assert "Available options in 'attention':\n\tcausal\n\tmha\n" in result.stderr
