"""`python -m attention_lab.docs`: writes the parts of the documentation that follow from the code, so that
they cannot drift from it: docs/troubleshooting.md whole, and the variant tables of README.md and
docs/variants.md (between their `<!-- variants ... -->` markers). tests/test_docs.py regenerates and compares.

Every message shown is the one the code raises: each setting gets a value its rule refuses (derived from
its JSON schema: below a minimum, outside a choice, ...) and the command's own checks run on it; the file
and checkpoint problems are made in a temporary directory and met the way a run meets them.
"""
# ruff: noqa: E501  (markdown table rows are one line each)

from __future__ import annotations

import copy
import re
import tempfile
import typing
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from attention_lab.attention import VARIANTS, Sizes
from attention_lab.cli import CONF_DIR
from attention_lab.errors import AttentionLabError
from attention_lab.settings import GenerateSettings, KvMemorySettings, ReportSettings, TrainSettings, checked
from attention_lab.settings.messages import check_arguments

ROOT = CONF_DIR.parent
TROUBLESHOOTING, README, VARIANTS_DOC = ROOT / "docs/troubleshooting.md", ROOT / "README.md", ROOT / "docs/variants.md"


def compose(*overrides: str, config_name: str = "config") -> DictConfig:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides))


# --- settings: a refused value for each, and the line it prints ------------------------------------------
def leaves(schema: dict, defs: dict, prefix: str = "") -> Iterator[tuple[str, dict]]:
    """(dotted setting, its JSON schema) for every leaf of a settings model's JSON schema."""
    for name, prop in schema.get("properties", {}).items():
        nested = [defs[o["$ref"].split("/")[-1]] for o in [prop, *prop.get("anyOf", [])] if "$ref" in o]
        if nested and "properties" in nested[0]:
            yield from leaves(nested[0], defs, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", prop


def bad_example(prop: dict) -> Any:
    """A value the setting's JSON schema refuses, or None where it names none (free-form settings)."""
    for option in [prop, *prop.get("anyOf", [])]:
        if "bad" in option:
            return option["bad"]
    for option in prop.get("anyOf", [prop]):
        for bound, bad in (("minimum", -1), ("exclusiveMinimum", 0), ("maximum", 1), ("exclusiveMaximum", 0)):
            if bound in option:
                return option[bound] + bad
        if "enum" in option or "const" in option:
            return "nonsense"
        if option.get("type") in ("boolean", "null"):
            return "maybe"
    return None


def refused(check: Callable[[], Any]) -> str:
    """The line `check` prints as its error (nothing when it passes)."""
    try:
        check()
    except AttentionLabError as err:
        return f"`error: {err}`"
    return ""


def settings_table(title: str, schema: type, cfg: DictConfig, extra_rows: list[str] = ()) -> str:
    from attention_lab.training.runner import built  # checks a _target_ as it is built

    rows = [f"## {title}", "", "| setting | what it is | a refused value prints |", "|---|---|---|"]
    json_schema = schema.model_json_schema()
    for key, prop in leaves(json_schema, json_schema.get("$defs", {})):
        bad, meaning = bad_example(prop), prop.get("description", "")
        if bad is None:
            rows.append(f"| `{key}` | {meaning} | free-form |")
            continue
        changed = copy.deepcopy(cfg)
        OmegaConf.update(changed, key, bad, merge=False, force_add=True)
        group = key.rpartition(".")[0]
        if key.endswith("._target_"):  # importable: checked as the node is built
            check = partial(built, group, OmegaConf.select(changed, group))
        else:
            check = partial(checked, schema, changed)
        rows.append(f"| `{key}` | {meaning} | {refused(check)} |")
    return "\n".join([*rows, *extra_rows]) + "\n"


def signature_rows(setting: str, target: type) -> Iterator[str]:
    """A row per argument that the signature of a class built from the config annotates with its rule."""
    from pydantic import TypeAdapter

    for name, hint in typing.get_type_hints(target.__init__, include_extras=True).items():
        if not hasattr(hint, "__metadata__"):  # Lightning's own classes: Lightning checks them
            continue
        bad = bad_example(TypeAdapter(hint).json_schema())
        meaning = " ".join(m.description for m in hint.__metadata__ if m.description)
        if bad is not None:
            printed = refused(lambda n=name, b=bad: check_arguments(setting, {n: b}, target))
            yield f"| `{setting}.{name}` | {meaning} | {printed} |"


def train_rows() -> list[str]:
    """The rules across settings (a variant's own settings, heads, the window, the schedule), the callbacks'
    own arguments, and Lightning's refusals, each shown with what it prints."""
    from attention_lab.training.runner import build_trainer

    rows = []
    for name, record in VARIANTS.items():
        for setting, meaning in record.settings.items():
            cfg = compose(f"attention={name}", f"attention.{setting}=0")
            rows.append(f"| `attention.{setting}` ({name}) | {meaning.meaning} | {refused(lambda c=cfg: checked(TrainSettings, c))} |")
    for overrides in (["model.emb_dim=63"], ["attention=gqa", "attention.num_kv_groups=3"], ["attention=mha", "+attention.window=8"],
                      ["attention=simple", "attention.qkv_bias=true"], ["data.max_length=100"], ["+model.n_head=2"],
                      ["trainer.max_epochs=-1", "optimizer.min_lr=1e-5"]):  # fmt: skip
        rule = refused(lambda o=overrides: checked(TrainSettings, compose(*o)))
        rows.append(f"| `{' '.join(overrides)}` | a rule across settings | {rule} |")
    for config in ("default", "book"):
        for entry, node in compose(f"callbacks={config}").callbacks.items():
            if node is not None and (config == "default" or entry == "book_eval"):
                module, _, name = node._target_.rpartition(".")
                rows += signature_rows(f"callbacks.{entry}", getattr(__import__(module, fromlist=[name]), name))
    for overrides in (["trainer.max_epochs=-2"], ["trainer.devices=0"]):
        cfg = compose(*overrides)
        rule = refused(lambda c=cfg: build_trainer(c, logger=False))
        rows.append(f"| `{' '.join(overrides)}` | checked by Lightning | {rule} |")
    return rows


# --- files and runs: the problems a run meets, made in a temporary directory -------------------------------
def problem_rows(tmp: Path) -> Iterator[tuple[str, Callable[[], Any]]]:
    from attention_lab.data.datamodule import TextDataModule
    from attention_lab.data.text import load_text
    from attention_lab.training.callbacks import diverged
    from attention_lab.training.checkpoints import CheckpointWriteError, no_room
    from attention_lab.training.resume import resolve_checkpoint, resolve_resume

    (tmp / "latin1.txt").write_bytes("café".encode("latin1"))
    (tmp / "empty.txt").write_text("")
    (tmp / "short.txt").write_text("A text of a few words.")
    (tmp / "notes.ckpt").write_text("notes")
    base = {"state_dict": {}, "loops": {"fit_loop": {"epoch_progress": {"current": {"processed": 10}}}}, "global_step": 90}
    torch.save(base, tmp / "best.ckpt")
    torch.save({**base, "optimizer_states": [], "hyper_parameters": {"model": {"emb_dim": 16}}}, tmp / "other.ckpt")
    torch.save({**base, "optimizer_states": [], "hyper_parameters": {}}, tmp / "done.ckpt")

    def resume(path: str) -> Callable[[], Any]:
        return lambda: resolve_resume(compose(f"ckpt_path={path}", f"paths.log_dir={tmp}"))

    yield "`data.path` is a directory", lambda: load_text(tmp)
    yield "`data.path` is a device, pipe or socket", lambda: load_text("/dev/null")
    yield "`data.path` is not UTF-8", lambda: load_text(tmp / "latin1.txt")
    yield "`data.path` is empty", lambda: load_text(tmp / "empty.txt")
    yield "`data.path` is missing and cannot be downloaded", lambda: load_text(tmp / "a.txt", f"file://{tmp}/none.txt")
    yield "the download has another sha256", lambda: load_text(tmp / "b.txt", f"file://{tmp}/short.txt", "0" * 64)
    yield "a split is shorter than one window", lambda: TextDataModule(str(tmp / "short.txt"), max_length=64).setup()
    yield "`ckpt_path` does not exist", resume(f"{tmp}/missing.ckpt")
    yield "`ckpt_path` is a directory", resume(str(tmp))
    yield "`ckpt_path` is another kind of file", resume(f"{tmp}/notes.ckpt")
    yield "`ckpt_path` is a best.ckpt (weights only)", resume(f"{tmp}/best.ckpt")
    yield "`ckpt_path` was trained with other settings", resume(f"{tmp}/other.ckpt")
    yield "`ckpt_path` holds a finished run", resume(f"{tmp}/done.ckpt")
    yield "`ckpt_path=last` finds no checkpoint", resume("last")
    yield "generate's `ckpt=last` finds no checkpoint", lambda: resolve_checkpoint("last", tmp / "logs")
    yield "the loss becomes NaN (the NaN guard)", lambda: _raise(diverged("train/loss", float("nan"), 40, 4, 0.5, tmp / "last.ckpt"))
    yield "the disk fills up while a checkpoint is written", lambda: _raise(no_room(tmp / "last.ckpt", 2**30, 2**20), CheckpointWriteError)


def _raise(message: str, kind: type[Exception] = AttentionLabError) -> None:
    raise kind(message)


def problems_table() -> str:
    rows = ["## Files, checkpoints and runs", "", "| what happened | it prints |", "|---|---|"]
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for what, check in problem_rows(tmp):
            rows.append(f"| {what} | {refused(check).replace(str(tmp.resolve()), '<dir>').replace(str(tmp), '<dir>')} |")
    return "\n".join(rows) + "\n"


INTRO = """\
# Troubleshooting

<!-- Written by `python -m attention_lab.docs` from the settings schema, the variant registry and the messages the code raises; do not edit by hand. -->

Every command line checks its settings before it builds anything (attention_lab.settings: a pydantic
model per config group). A refused value prints one line and the command exits with status 1:

    error: <setting>=<value> is not allowed: <what is allowed> (<what the setting is>)

`HYDRA_FULL_ERROR=1` shows the traceback as well; from Python, `attention_lab.training.run(cfg)` raises
`attention_lab.errors.ConfigError`. Lightning's Trainer and callbacks take any of their own arguments
(`trainer.<argument>`): each is checked against the type in its class's signature, then by Lightning
itself as the trainer is built, before the text is read or a model is made. The tables show each setting
with a value it refuses and the line that value prints.
"""

OUTRO = """\
A download is written only to a path that does not exist yet: the bytes are hash-checked, written to a
temporary file beside it and linked into place when complete. A checkpoint is written to a temporary
file and renamed onto the old one. A resumed run logs into its checkpoint's version directory;
TensorBoard drops what the interrupted run logged after the checkpoint. In a multirun (`-m`, `sweep=...`)
a job with a refused setting or a diverged loss logs its `error: ...` line and the other jobs go on; the
command then prints the first such error and exits with status 1.
"""


def troubleshooting() -> str:
    return "\n".join([
        INTRO,
        settings_table("Settings of train.py (conf/config.yaml)", TrainSettings, compose(), train_rows()),
        settings_table("Settings of `python -m attention_lab.generate` (conf/generate.yaml)", GenerateSettings,
                       compose("ckpt=last", config_name="generate")),
        settings_table("Settings of `python -m attention_lab.report` (conf/report.yaml)", ReportSettings,
                       compose(f"log_dir={ROOT}", config_name="report")),
        settings_table("Settings of `python -m attention_lab.kv_memory` (conf/kv_memory.yaml)", KvMemorySettings,
                       compose(config_name="kv_memory")),
        problems_table(),
        OUTRO,
    ])  # fmt: skip


# --- the variant tables ---------------------------------------------------------------------------------------
def variants_table() -> str:
    """README's table: every registered variant in the chapter's order."""
    rows = ["| name | section | what it is |", "|---|---|---|"]
    rows += [f"| `{v.name}` | {v.section} | {v.summary} |" for v in VARIANTS.values()]
    return "\n".join(rows) + "\n"


def kv_table(model: str = "gpt2_124m") -> str:
    """docs/variants.md's table: each variant's own settings (as its conf file sets them) and its KV cache."""
    from attention_lab.model.kv_bytes import cached_tokens, kv_cache_bytes, short_bytes

    sizes = compose(f"model={model}").model
    rows = [f"| variant | section | what it is | own settings (conf/attention) | multi-head | numbers cached per token and layer | KV cache of `model={model}` (context {sizes.context_length}, fp32) |", "|---|---|---|---|---|---:|---:|"]
    for name, record in VARIANTS.items():
        own = {key: compose(f"attention={name}").attention[key] for key in record.settings}
        dims = dict(emb_dim=sizes.emb_dim, n_heads=sizes.n_heads, context_length=sizes.context_length, **own)
        per_token = record.cached_per_token(Sizes(sizes.emb_dim, sizes.n_heads, sizes.context_length, own))
        total = kv_cache_bytes(name, n_layers=sizes.n_layers, **dims)
        kept = cached_tokens(name, **dims)
        listed = ", ".join(f"`{k}: {v}`" for k, v in own.items()) or "—"
        tokens = f" ({kept} tokens kept)" if kept < sizes.context_length else ""
        rows.append(f"| `{name}` | {record.section} | {record.summary} | {listed} | {'yes' if record.multi_head else 'no'} | {per_token:,} | {short_bytes(total)}{tokens} |")
    return "\n".join(rows) + "\n"


def between_markers(text: str, marker: str, table: str) -> str:
    pattern = re.compile(rf"(<!-- {marker}: .*? -->\n).*?(<!-- end of {marker} -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"no <!-- {marker}: ... --> marker pair in the document")
    return pattern.sub(lambda m: m.group(1) + table + m.group(2), text)


def documents() -> dict[Path, str]:
    """Each generated document's path and the text it should hold."""
    return {
        TROUBLESHOOTING: troubleshooting(),
        README: between_markers(README.read_text(encoding="utf-8"), "variants", variants_table()),
        VARIANTS_DOC: between_markers(VARIANTS_DOC.read_text(encoding="utf-8"), "variants", kv_table()),
    }


if __name__ == "__main__":
    for path, text in documents().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
