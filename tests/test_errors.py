"""Every setting a user can type is checked before anything is built: a refused value ends in one line naming
the setting, the value and what is allowed (from the command line `error: ...`, exit status 1).

The walk below goes over every leaf of every composed config (the default and each option of each group)
and gives each a wrong value: the settings schema refuses it, or the class the leaf is an argument of
(Lightning's Trainer and callbacks) refuses it as train.py builds it, before the text is read. A new setting
that no rule covers fails here; a free-form one must say in its description why.
"""

# ruff: noqa: E501  (the tables of settings and the one-line messages they print read best one per line)
from __future__ import annotations

import copy
import errno
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra.errors import InstantiationException
from omegaconf import OmegaConf

from attention_lab.attention import VARIANTS
from attention_lab.cli import CONF_DIR
from attention_lab.docgen.refusals import bad_example, leaves
from attention_lab.errors import ConfigError, DiskFullError, shown
from attention_lab.settings import TrainSettings, checked
from attention_lab.training.resume import find_last_checkpoint, resolve_checkpoint
from attention_lab.training.runner import build_logger, build_trainer, built
from tests.helpers import MICRO, compose_config, run_train_script, train

GROUPS = (
    "attention",
    "model",
    "optimizer",
    "module",
    "data",
    "callbacks",
    "trainer",
    "logger",
    "experiment",
    "dropout",
)
OPTIONS = [f"{group}={path.stem}" for group in GROUPS for path in sorted((CONF_DIR / group).glob("*.yaml"))]
SCHEMA = TrainSettings.model_json_schema()
SCHEMA_LEAVES = dict(leaves(SCHEMA, SCHEMA["$defs"]))
FREE_FORM = {key: prop["description"] for key, prop in SCHEMA_LEAVES.items() if bad_example(prop) is None}


def config_leaves(node: Any, prefix: str = "") -> list[str]:
    """Dotted names of the leaves of a config, without resolving interpolations."""
    container = OmegaConf.to_container(node, resolve=False) if OmegaConf.is_config(node) else node
    names = []
    for key, value in container.items():
        name = f"{prefix}{key}"
        names += config_leaves(value, f"{name}.") if isinstance(value, dict) and value else [name]
    return names


def refuse(cfg) -> None:
    """What train.py checks before it reads the text: the schema, then the Lightning classes as they are
    built (logger, callbacks, trainer)."""
    settings = checked(TrainSettings, cfg)
    build_trainer(settings, build_logger(settings, None))


def candidates(key: str) -> list[Any]:
    """Wrong values to try for `key`: the one its schema rule names first, then values of the wrong type."""
    derived = bad_example(SCHEMA_LEAVES[key]) if key in SCHEMA_LEAVES else None
    return [value for value in (derived, "nonsense", -7, {"wrong": 1}) if value is not None]


def refusal_of(cfg, key: str) -> str | None:
    """The message of the first candidate value refused for `key`; None when every one passes."""
    for bad in candidates(key):
        changed = copy.deepcopy(cfg)
        OmegaConf.update(changed, key, bad, merge=False)
        try:
            refuse(changed)
        except ConfigError as err:
            message = str(err)
            assert message.startswith((f"{key}={shown(bad)} ", f"{key} is not allowed")), message
            assert "\n" not in message
            return message
    return None


def free_form(key: str) -> bool:
    """Under a setting the schema declares free-form (a copy of another group, the run's axes: a copy of
    settings checked where they are set)."""
    return any(key == name or key.startswith(f"{name}.") for name in FREE_FORM) or key.startswith(
        "callbacks.tensorboard_extras.axes."
    )


@pytest.mark.slow
def test_every_setting_is_refused_when_wrong_or_declared_free_form(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # trainer=gpu passes where there is one
    first_seen: dict[str, tuple[str, ...]] = {}  # each setting, in the first option that has it
    composed = {
        option: compose_config(*option) for option in [(), *((o,) for o in OPTIONS if o != "trainer=gpu")]
    }
    for option, cfg in composed.items():
        checked(TrainSettings, cfg)  # the shipped values pass
        for key in config_leaves(cfg):
            if not free_form(key):
                first_seen.setdefault(key, option)
    unchecked = [key for key, option in first_seen.items() if refusal_of(composed[option], key) is None]
    assert not unchecked, f"settings that no rule refuses: {unchecked}"


def test_free_form_settings_say_why() -> None:
    assert set(FREE_FORM) == {"callbacks"}  # each entry checked as its class is built
    assert all(len(why) > 20 for why in FREE_FORM.values())


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.vocab_size=100", "model.vocab_size=100 is not allowed: it must be >= 50257, a row for each token id"),
        ("model.emb_dim=abc", "model.emb_dim=abc is not allowed: it must be a valid integer (the width of"),
        ("model.emb_dim=63", "model.emb_dim=63 is not allowed with model.n_heads=4: it must be a multiple of"),
        ("data.max_length=100", "data.max_length=100 is not allowed with model.context_length=64: it must be <= 64"),
        ("attention.name=flash", "attention.name=flash is not allowed: it must be one of simple, self_v1, self_v2"),
        ("attention.dropout=1.0", "attention.dropout=1.0 is not allowed: it must be less than 1"),
        ("data.train_ratio=0", "data.train_ratio=0 is not allowed: it must be greater than 0"),
        ("optimizer.lr=inf", "optimizer.lr=inf is not allowed: it must be a finite number"),
        ("+trainer.val_check_interval=0", "trainer.val_check_interval=0 is not allowed: it must be a whole number of batches >= 1, a share of an epoch"),
        ("trainer.limit_val_batches=1.5", "trainer.limit_val_batches=1.5 is not allowed: it must be a whole number of batches >= 0, a share"),
        ("+trainer.accumulate_grad_batches=0", "trainer.accumulate_grad_batches=0 is not allowed"),
        ("callbacks.nan_guard=5", "callbacks.nan_guard=5 is not allowed: it must be null (switched off) or a"),
        ("experiment_name=../elsewhere", "experiment_name=../elsewhere is not allowed: it must be letters"),
        ("run_name=a:b", "run_name=a:b is not allowed"),
        ("seed=-1", "seed=-1 is not allowed: it must be greater than or equal to 0"),
        ("data.source.sha256=abc", "data.source.sha256=abc is not allowed: it must be 64 hexadecimal digits"),
        ("data.source.url=ftp://x", "data.source.url=ftp://x is not allowed: it must be a https://, http:// or file:// URL"),
        ("data.shuffle=random", "data.shuffle=random is not allowed: it must be 'seeded' or 'global_rng'"),
        ("data.path=/", "data.path=/ is not allowed: it is a directory"),
        ("data.path=/dev/null", "data.path=/dev/null is not allowed: it is not a regular file"),
        ("paths.log_dir=/dev/null", "paths.log_dir=/dev/null is not allowed: it must be a directory (where TensorBoard"),
        ("ckpt_path=''", "ckpt_path='' is not allowed: it must be some text"),
        ("model.pos_emb=rotary", "model.pos_emb=rotary is not allowed: it must be 'learned', 'none', 'rope' or 'alibi'"),
        ("model.drop_rate=${nope}", "model.drop_rate is not allowed: Interpolation key 'nope' not found"),
        ("attention=gqa attention.num_kv_groups=3", "attention.num_kv_groups=3 is not allowed with model.n_heads=4: it must divide"),
        ("attention=gqa attention.num_kv_groups=0", "attention.num_kv_groups=0 is not allowed: it must be a whole number >= 1"),
        ("attention=mqa attention.num_kv_groups=2", "attention.num_kv_groups=2 is not allowed with attention=mqa: it must be 1"),
        ("attention=swa attention.window=null", "attention.window=null is not allowed: it must be a whole number >= 1"),
        ("attention=mla attention.kv_latent_dim=2.5", "attention.kv_latent_dim=2.5 is not allowed: it must be a whole number"),
        ("attention=mha +attention.window=8", "attention.window=8 is not allowed with attention=mha: it is a setting of swa only"),
        ("attention=simple attention.qkv_bias=true", "attention.qkv_bias=true is not allowed with attention=simple"),
        ("optimizer.warmup_steps=-1", "optimizer.warmup_steps=-1 is not allowed"),
        ("optimizer.min_lr=-1e-5", "optimizer.min_lr=-1e-05 is not allowed"),
    ],
)  # fmt: skip
def test_bad_setting_names_the_setting_the_value_and_what_is_allowed(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        checked(TrainSettings, compose_config(*override.split()))
    assert str(raised.value).startswith(message), str(raised.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.max_epochs=-2", "trainer.max_epochs=-2 is not allowed: `max_epochs` must be a non-negative"),
        ("trainer.max_epochs=1.5", "trainer.max_epochs=1.5 is not allowed: it must be a valid integer"),
        ("trainer.devices=0", "trainer.devices=0 is not allowed: `Trainer(devices=0)` value is not a valid"),
        ("trainer.precision=8", "trainer.precision=8 is not allowed: it must be 64, 32 or 16 or"),
        ("trainer.accelerator=quantum", "trainer.accelerator=quantum is not allowed: it must be one of auto, cpu"),
        ("trainer=gpu", "trainer.accelerator=gpu is not allowed: "),
        ("+trainer.strategy=teleport", "trainer.strategy=teleport is not allowed: You selected an invalid strategy"),
        ("+trainer.max_epoch=3", "trainer.max_epoch is not allowed: it is not an argument of lightning.pytorch"),
        ("+trainer.barebones=true", "trainer.barebones=true is not allowed: `Trainer(barebones=True, enable_che"),
        ("+trainer.enable_progress_bar=false", "trainer.enable_progress_bar is not allowed: train.py sets it"),
        ("+callbacks.lr_monitor.interval=step", "callbacks.lr_monitor.interval is not allowed: it is not an arg"),
        ("callbacks.lr_monitor.logging_interval=hour", "callbacks.lr_monitor.logging_interval=hour is not allowed"),
        ("callbacks.lr_monitor._target_=no.Such", "callbacks.lr_monitor._target_=no.Such is not allowed: it must be"),
        ("callbacks.checkpoints.every_minutes=-1", "callbacks.checkpoints.every_minutes=-1 is not allowed: it must"),
        ("+callbacks.checkpoints.monitor=val_loss", "callbacks.checkpoints.monitor=val_loss is not allowed: it must"),
        ("callbacks.tensorboard_extras.sample_tokens=-1", "callbacks.tensorboard_extras.sample_tokens=-1 is not"),
    ],
)  # fmt: skip
def test_lightning_and_the_callbacks_refuse_their_own_settings_in_one_line(
    override: str, message: str
) -> None:
    """The Trainer's and the callbacks' arguments: checked by their classes as train.py builds them."""
    with pytest.raises(ConfigError) as raised:
        refuse(compose_config(*override.split()))
    assert str(raised.value).startswith(message), str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_lightning_refusal_stops_the_run_before_anything_is_written(fast_config, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^trainer.max_epochs=-2 is not allowed"):
        train(fast_config("trainer.max_epochs=-2"))
    assert not (tmp_path / "logs").exists()


class Picky:
    """A class built from the config: a name it needs, a size it refuses below 0, a colour it refuses."""

    def __init__(self, name: str, size: int = 2, colour: str = "red") -> None:
        if size < 0:
            raise ValueError("a size is never negative")
        if colour == "green":
            raise ValueError("never green")


def test_a_refusal_names_the_argument_without_which_the_class_builds() -> None:
    with pytest.raises(ConfigError, match=r"^thing.size=-1 is not allowed: a size is never negative$"):
        built("thing", {"_target_": f"{__name__}.Picky", "name": "a", "size": -1, "colour": "red"})
    with pytest.raises(InstantiationException):  # no one argument is the cause: not a setting's line
        built("thing", {"_target_": f"{__name__}.Picky", "name": "a", "size": -1, "colour": "green"})


@pytest.mark.parametrize("override", ["+model.n_head=2", "+attention.windw=3", "+optimizer.betas=0.9"])
def test_a_setting_added_by_mistake_names_the_group_or_the_variant(override: str) -> None:
    key = override[1:].split("=")[0]
    with pytest.raises(ConfigError, match=rf"^{re.escape(key)}(=\S+)? is not allowed"):
        checked(TrainSettings, compose_config(override))


def test_a_schedule_needs_a_run_with_an_end() -> None:
    cfg = compose_config("trainer.max_epochs=-1", "optimizer.min_lr=1e-5")
    with pytest.raises(ConfigError, match="trainer.max_epochs=-1 is not allowed with optimizer.min_lr=1e-05"):
        checked(TrainSettings, cfg)
    checked(
        TrainSettings,
        compose_config("trainer.max_epochs=-1", "trainer.max_steps=20", "optimizer.min_lr=1e-5"),
    )


# --- the command line: what a user sees -------------------------------------------------------------
def train_cli(*overrides: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return run_train_script(*overrides, f"paths.log_dir={tmp_path / 'logs'}")


@pytest.mark.slow
@pytest.mark.parametrize("override", ["model.vocab_size=100", "trainer.max_epochs=-2", "data.path=/"])
def test_cli_bad_value_is_one_line_and_exit_status_1(override: str, tmp_path: Path) -> None:
    result = train_cli(override, tmp_path=tmp_path)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()  # no traceback
    assert line.startswith(f"error: {override} is not allowed"), line
    assert not (tmp_path / "logs" / "tiny").exists()  # nothing was started


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
        train(cfg)
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
        train(cfg)
