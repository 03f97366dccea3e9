"""Every setting a user can type is checked before anything is built: a bad value ends in one line naming
the setting, the value and what is allowed (from the command line `error: ...`, exit status 1).

The walk below goes over every leaf of every composed config (the default and each option of each group):
each must have an entry in attention_lab.checks' tables, a Rule (then a bad value is rejected under that
name) or a FreeForm with its reason. A new setting fails here until it gets one of them.
"""

from __future__ import annotations

import copy
import errno
import os
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from attention_lab import checks, rules
from attention_lab.attention import VARIANTS
from attention_lab.checks import GENERATE, REPORT, train_table, validate
from attention_lab.checks_trainer import PRECISIONS
from attention_lab.config import CONF_DIR
from attention_lab.errors import ConfigError, DiskFullError
from attention_lab.resume import find_last_checkpoint
from attention_lab.rules import FreeForm, Rule, rule_for, shown
from attention_lab.train import run
from tests.helpers import MICRO, compose_config, run_command, run_train_script

GROUPS = ("attention", "model", "optimizer", "module", "data", "callbacks", "trainer", "logger", "experiment")
OPTIONS = [f"{group}={path.stem}" for group in GROUPS for path in sorted((CONF_DIR / group).glob("*.yaml"))]


def bad_values(cfg, table) -> list[tuple[str, object, Rule]]:
    """(setting, a value its rule rejects, the rule) for every leaf; fails on a leaf the table lacks."""
    unknown = [key for key in rules.leaves(cfg) if rule_for(table, key) is None]
    assert not unknown, f"settings neither checked nor declared free-form in attention_lab.checks: {unknown}"
    return [
        (key, rule.bad_example, rule)
        for key in rules.leaves(cfg)
        if isinstance(rule := rule_for(table, key), Rule)
    ]


def assert_rejected(check, cfg, key: str, bad: object, rule: Rule) -> None:
    OmegaConf.update(cfg, key, bad, merge=False)
    with pytest.raises(ConfigError) as raised:
        check(cfg)
    message = str(raised.value)
    assert message.startswith(f"{key}={shown(bad)} "), message  # the setting and the value ...
    assert rule.allowed in message or (rule.why_not and rule.why_not(bad) in message), (
        message
    )  # ... what is allowed


def test_every_setting_is_checked_or_declared_free_form(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # trainer=gpu passes where there is one
    first_seen: dict[str, tuple[str, ...]] = {}  # each setting, in the first option that has it
    for option in [(), *((o,) for o in OPTIONS)]:
        cfg = compose_config(*option)
        validate(cfg)  # the shipped values pass
        for key, *_ in bad_values(cfg, train_table()):
            first_seen.setdefault(key, option)
    composed = {option: compose_config(*option) for option in set(first_seen.values())}
    for key, option in first_seen.items():
        rule = rule_for(train_table(), key)
        assert_rejected(validate, copy.deepcopy(composed[option]), key, rule.bad_example, rule)


def test_every_generate_setting_is_checked(tmp_path: Path) -> None:
    for key, bad, rule in bad_values(compose_config(config_name="generate"), GENERATE):
        cfg = compose_config("ckpt=some.ckpt", f"log_dir={tmp_path}", config_name="generate")
        assert_rejected(checks.validate_generate, cfg, key, bad, rule)


def test_every_report_setting_is_checked(tmp_path: Path) -> None:
    for key, bad, rule in bad_values(compose_config(config_name="report"), REPORT):
        cfg = compose_config(f"log_dir={tmp_path}", config_name="report")
        assert_rejected(checks.validate_report, cfg, key, bad, rule)


def test_every_kv_memory_setting_is_checked() -> None:
    table = checks.kv_memory_table()
    for key, bad, rule in bad_values(compose_config(config_name="kv_memory"), table):
        assert_rejected(checks.validate_kv_memory, compose_config(config_name="kv_memory"), key, bad, rule)


def test_free_form_settings_say_why() -> None:
    for table in (train_table(), GENERATE, REPORT, checks.kv_memory_table()):
        for key, entry in table.items():
            assert isinstance(entry, Rule) or (isinstance(entry, FreeForm) and len(entry.why) > 20), key


def test_lightning_names_match_the_installed_lightning() -> None:
    from lightning.fabric.connector import _PRECISION_INPUT_STR, _PRECISION_INPUT_STR_ALIAS

    lightning = set(typing.get_args(_PRECISION_INPUT_STR)) | set(typing.get_args(_PRECISION_INPUT_STR_ALIAS))
    assert lightning <= set(PRECISIONS)


@pytest.mark.parametrize(
    ("override", "setting", "value", "allowed"),
    [
        ("model.vocab_size=100", "model.vocab_size", "100", ">= 50257"),
        ("model.emb_dim=abc", "model.emb_dim", "abc", "a whole number >= 1"),
        ("model.emb_dim=63", "model.emb_dim", "63", "a multiple of n_heads"),
        ("data.max_length=100", "data.max_length", "100", "<= 64"),
        ("attention.name=flash", "attention.name", "flash", "one of simple, self_v1, self_v2"),
        ("attention.dropout=1.0", "attention.dropout", "1.0", "in [0, 1)"),
        ("data.train_ratio=0", "data.train_ratio", "0", "in (0, 1]"[:8]),
        ("optimizer.lr=inf", "optimizer.lr", "inf", "> 0"),
        ("trainer.max_epochs=-2", "trainer.max_epochs", "-2", ">= -1"),
        ("trainer.max_epochs=1.5", "trainer.max_epochs", "1.5", "a whole number"),
        ("trainer.max_steps=-5", "trainer.max_steps", "-5", ">= -1"),
        ("trainer.limit_train_batches=-1", "trainer.limit_train_batches", "-1", "a number in [0, 1]"),
        ("trainer.limit_val_batches=1.5", "trainer.limit_val_batches", "1.5", "a number in [0, 1]"),
        ("trainer.devices=0", "trainer.devices", "0", "-1 (all), auto"),
        ("trainer.precision=8", "trainer.precision", "8", "bf16-mixed"),
        ("trainer.accelerator=quantum", "trainer.accelerator", "quantum", "one of cpu, gpu"),
        ("trainer.gradient_clip_val=-1", "trainer.gradient_clip_val", "-1", ">= 0"),
        ("trainer.log_every_n_steps=0", "trainer.log_every_n_steps", "0", ">= 1"),
        ("trainer.num_sanity_val_steps=-2", "trainer.num_sanity_val_steps", "-2", ">= -1"),
        ("+trainer.val_check_interval=0", "trainer.val_check_interval", "0", "in (0, 1]"),
        ("+trainer.check_val_every_n_epoch=0", "trainer.check_val_every_n_epoch", "0", ">= 1"),
        ("+trainer.accumulate_grad_batches=0", "trainer.accumulate_grad_batches", "0", ">= 1"),
        ("+trainer.strategy=teleport", "trainer.strategy", "teleport", "StrategyRegistry"),
        ("+trainer.max_epoch=3", "trainer.max_epoch", "", "not an argument of lightning.Trainer"),
        (
            "+trainer.enable_progress_bar=false",
            "trainer.enable_progress_bar",
            "false",
            "callbacks.progress_bar",
        ),
        ("+callbacks.lr_monitor.interval=step", "callbacks.lr_monitor.interval", "", "not an argument"),
        ("callbacks.nan_guard=5", "callbacks.nan_guard", "5", "null (switched off) or a callback"),
        ("callbacks.lr_monitor._target_=no.Such", "callbacks.lr_monitor._target_", "no.Such", "importable"),
        ("callbacks.checkpoints.every_minutes=-1", "callbacks.checkpoints.every_minutes", "-1", ">= 0"),
        ("+callbacks.checkpoints.monitor=val_loss", "callbacks.checkpoints.monitor", "val_loss", "val/loss"),
        (
            "callbacks.tensorboard_extras.sample_tokens=-1",
            "callbacks.tensorboard_extras.sample_tokens",
            "-1",
            ">= 0",
        ),  # fmt: skip
        ("experiment_name=../elsewhere", "experiment_name", "../elsewhere", "letters, digits"),
        ("run_name=a:b", "run_name", "a:b", "letters, digits"),
        ("seed=-1", "seed", "-1", ">= 0"),
        ("data.sha256=abc", "data.sha256", "abc", "64 hexadecimal digits"),
        ("data.url=ftp://x", "data.url", "ftp://x", "https://"),
        ("data.shuffle=random", "data.shuffle", "random", "one of seeded, global_rng"),
        ("data.path=/", "data.path", "/", "is a directory"),
        ("data.path=/dev/null", "data.path", "/dev/null", "not a regular file"),
        ("paths.log_dir=/dev/null", "paths.log_dir", "/dev/null", "not a file"),
        ("ckpt_path=''", "ckpt_path", "''", "null, last"),
        ("model.pos_emb=rotary", "model.pos_emb", "rotary", "one of learned, none"),
        ("attention=gqa attention.num_kv_groups=3", "attention.num_kv_groups", "3", "it must divide"),
        ("attention=gqa attention.num_kv_groups=0", "attention.num_kv_groups", "0", "a whole number >= 1"),
        ("attention=mqa attention.num_kv_groups=2", "attention.num_kv_groups", "2", "it must be 1"),
        ("attention=swa attention.window=0", "attention.window", "0", "a whole number >= 1"),
        ("attention=swa attention.window=null", "attention.window", "None", "a whole number >= 1"),
        ("attention=mla attention.kv_latent_dim=2.5", "attention.kv_latent_dim", "2.5", "a whole number"),
        ("attention=mha +attention.window=8", "attention.window", "8", "a setting of swa only"),
        ("optimizer.warmup_steps=-1", "optimizer.warmup_steps", "-1", ">= 0"),
        ("optimizer.min_lr=-1e-5", "optimizer.min_lr", "-1e-05", ">= 0"),
    ],
)
def test_bad_setting_names_the_setting_the_value_and_what_is_allowed(
    override, setting, value, allowed
) -> None:
    with pytest.raises(ConfigError) as raised:
        validate(compose_config(*override.split()))
    message = str(raised.value)
    assert message.startswith(f"{setting}={value}" if value else setting), message
    assert allowed in message, message


def test_a_new_setting_fails_the_walk_until_it_is_declared() -> None:
    cfg = compose_config("+model.pos_emb_typo=learned")
    with pytest.raises(AssertionError, match="model.pos_emb_typo"):
        bad_values(cfg, train_table())


# --- the command line: what a user sees -------------------------------------------------------------
def train_cli(*overrides: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return run_train_script(*overrides, f"paths.log_dir={tmp_path / 'logs'}")


@pytest.mark.slow
@pytest.mark.parametrize("override", ["model.vocab_size=100", "trainer.max_epochs=-2", "data.path=/"])
def test_cli_bad_value_is_one_line_and_exit_status_1(override: str, tmp_path: Path) -> None:
    result = train_cli(override, tmp_path=tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()  # no traceback
    assert line.startswith(f"error: {override}"), line
    assert not (tmp_path / "logs" / "tiny").exists()  # nothing was started


def test_a_gpu_trainer_without_a_gpu_is_one_clear_error(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(
        ConfigError, match="trainer.accelerator=gpu is not allowed on this machine.*trainer=cpu"
    ):
        validate(compose_config("trainer=gpu"))


@pytest.mark.parametrize("override", ["+model.n_head=2", "+attention.windw=3", "+optimizer.betas=0.9"])
def test_a_setting_added_by_mistake_names_the_groups_settings(override: str) -> None:
    key = override[1:].split("=")[0]
    group = key.split(".")[0]
    with pytest.raises(ConfigError, match=rf"^{key} is not allowed: it is not a setting of {group} \(those"):
        validate(compose_config(override))


def test_a_schedule_needs_a_run_with_an_end() -> None:
    cfg = compose_config("trainer.max_epochs=-1", "optimizer.min_lr=1e-5")
    with pytest.raises(ConfigError, match="trainer.max_epochs=-1 is not allowed with optimizer.min_lr=1e-05"):
        validate(cfg)
    validate(compose_config("trainer.max_epochs=-1", "trainer.max_steps=20", "optimizer.min_lr=1e-5"))


def test_the_checks_that_import_can_be_left_for_later() -> None:
    cfg = compose_config("trainer._target_=no.such.Trainer")
    validate(cfg, importing=False)  # what train.py checks before importing Lightning
    with pytest.raises(ConfigError, match="trainer._target_=no.such.Trainer is not allowed"):
        validate(cfg)


@pytest.mark.slow
def test_cli_bad_value_is_reported_before_lightning_is_imported(tmp_path: Path) -> None:
    """A mistyped value costs the checks, not the seconds of importing Lightning (docs/performance.md)."""
    probe = (
        "import atexit, runpy, sys; "
        "atexit.register(lambda: print('lightning imported:', 'lightning' in sys.modules)); "
        "sys.argv = ['train.py', *sys.argv[1:]]; runpy.run_path('train.py', run_name='__main__')"
    )
    result = run_command([sys.executable, "-c", probe, "trainer.max_epochs=-2", f"paths.log_dir={tmp_path}"])
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: trainer.max_epochs=-2"), result.stderr
    assert "lightning imported: False" in result.stdout


@pytest.mark.slow
def test_cli_unknown_attention_lists_the_variants(tmp_path: Path) -> None:
    result = train_cli("attention=flash", tmp_path=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "Could not find 'attention/flash'" in result.stderr
    options = result.stderr.split("Available options in 'attention':")[1].split("\n\n")[0].split()
    assert set(VARIANTS) <= set(options)


# --- files: checkpoints, and a disk that fills up ---------------------------------------------------
def fails_cleanly(cfg, tmp_path: Path, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run(cfg)
    assert not (tmp_path / "logs" / "tiny").exists()  # no log directory was started


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p, r"^ckpt_path={p} does not exist"),
        (lambda p: p.mkdir() or p, r"^ckpt_path={p} is not a file: give a .ckpt from logs/"),
        (
            lambda p: p.write_text("notes") and p,
            r"^ckpt_path={p} is not a checkpoint written by attention-lab",
        ),
        (lambda p: torch.save({"weights": 1}, p) or p, r"^ckpt_path={p} is not a checkpoint written by att"),
        (
            lambda p: torch.save({"state_dict": {}, "loops": {}, "global_step": 3}, p) or p,
            r"^ckpt_path={p} holds the weights only \(a best.ckpt, for generation\)",
        ),
    ],
    ids=["missing", "directory", "text file", "other torch file", "weights only"],
)
def test_ckpt_path_that_is_not_a_checkpoint(make, message, fast_config, tmp_path: Path) -> None:
    path = make(tmp_path / "x.ckpt")
    fails_cleanly(fast_config(f"ckpt_path={path}"), tmp_path, message.format(p=re.escape(str(path))))


def test_generate_ckpt_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    from attention_lab.generate import resolve_checkpoint

    (tmp_path / "notes.ckpt").write_text("notes")
    with pytest.raises(
        ConfigError, match=r"^ckpt=.*notes.ckpt is not a checkpoint written by attention-lab.*ckpt=last"
    ):
        resolve_checkpoint(str(tmp_path / "notes.ckpt"), tmp_path)


def test_ckpt_path_last_takes_the_newest_readable_checkpoint(tmp_path: Path, caplog) -> None:
    good = tmp_path / "version_0" / "checkpoints" / "last.ckpt"
    torn = tmp_path / "version_1" / "checkpoints" / "last.ckpt"
    for path in (good, torn):
        path.parent.mkdir(parents=True)
    torch.save({"state_dict": {}, "loops": {}, "global_step": 3}, good)
    torn.write_bytes(good.read_bytes()[:100])  # cut short by a crash, and newer
    os.utime(good, (1, 1))
    with caplog.at_level("WARNING", logger="attention_lab"):
        assert find_last_checkpoint(tmp_path) == good
    assert f"ckpt_path=last skips {torn}" in caplog.text


def test_ckpt_path_last_resumes_from_last_ckpt_even_when_best_ckpt_is_newer(tmp_path: Path) -> None:
    last = tmp_path / "version_0" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    torch.save({"state_dict": {}, "loops": {}, "global_step": 3, "optimizer_states": []}, last)
    best = last.with_name("best.ckpt")  # save_best=true writes it at every better epoch, weights only
    torch.save({"state_dict": {}, "loops": {}, "global_step": 6}, best)
    os.utime(last, (1, 1))
    assert find_last_checkpoint(tmp_path) == last


def test_disk_full_while_writing_events_is_one_line(tmp_path: Path, monkeypatch) -> None:
    from tensorboard.summary.writer.event_file_writer import _AsyncWriter

    def disk_full(self, bytestring):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_AsyncWriter, "write", disk_full)
    cfg = compose_config(*MICRO, "callbacks.checkpoints=null", log_dir=tmp_path / "logs")
    with pytest.raises(
        DiskFullError, match=r"^the disk is full \(errno ENOSPC\) while writing the run's logs in "
    ):
        run(cfg)
