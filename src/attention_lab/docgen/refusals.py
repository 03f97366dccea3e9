"""The settings tables of docs/troubleshooting.md: each setting with a value its rule refuses (derived from
its JSON schema: below a minimum, outside a choice, ...) and the line the command's own checks print."""
# ruff: noqa: E501  (markdown table rows are one line each)

from __future__ import annotations

import copy
import typing
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from omegaconf import DictConfig, OmegaConf
from pydantic import TypeAdapter

from attention_lab.attention import VARIANTS
from attention_lab.cli import CONF_DIR, compose
from attention_lab.errors import AttentionLabError
from attention_lab.settings import TrainSettings, checked
from attention_lab.training.runner import build_trainer, built, check_arguments

ROOT = CONF_DIR.parent


def leaves(schema: dict, defs: dict, prefix: str = "") -> Iterator[tuple[str, dict]]:
    """(dotted setting, its JSON schema) for every leaf of a settings model's JSON schema; a setting of
    several models (data: a text's or recall's) gives the leaves of each, in order."""
    for name, prop in schema.get("properties", {}).items():
        options = [prop, *prop.get("anyOf", []), *prop.get("oneOf", [])]
        nested = [defs[o["$ref"].split("/")[-1]] for o in options if "$ref" in o]
        if nested and "properties" in nested[0]:
            for model in nested:
                yield from leaves(model, defs, f"{prefix}{name}.")
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


def printed_refusal(check: Callable[[], Any]) -> str:
    """The line `check` raises, as Markdown code; an AssertionError where `check` accepts what it should not."""
    try:
        check()
    except AttentionLabError as err:
        fence = "``" if "`" in str(err) else "`"  # a message quoting code keeps its backticks
        return f"{fence} error: {err} {fence}" if fence == "``" else f"`error: {err}`"
    raise AssertionError(f"{check} passed: a value meant to be refused was accepted")


def train_refusal(cfg: DictConfig) -> None:
    """What train.py checks before it reads the text: the settings, then the Trainer as Lightning builds it
    (a trainer setting's value Lightning alone knows, as trainer.accelerator's)."""
    build_trainer(checked(TrainSettings, cfg), logger=False)


def settings_table(
    title: str, schema: type, cfg: DictConfig, extra_rows: list[str] = (), others: list[DictConfig] = ()
) -> str:
    """A row per setting of `schema`: its meaning and the line a refused value prints, on `cfg`, or on the
    first of `others` that has the setting (a setting of another data set: data=recall's); train.py's
    settings are refused by its settings or by the Trainer as it is built."""
    rows = [f"## {title}", "", "| setting | what it is | a refused value prints |", "|---|---|---|"]
    json_schema = schema.model_json_schema()
    for key, prop in dict(leaves(json_schema, json_schema.get("$defs", {}))).items():
        bad, meaning = bad_example(prop), prop.get("description", "")
        if bad is None:
            rows.append(f"| `{key}` | {meaning} | free-form |")
            continue
        has_key = [c for c in (cfg, *others) if OmegaConf.select(c, key, default="absent") != "absent"]
        changed = copy.deepcopy(has_key[0] if has_key else cfg)
        OmegaConf.update(changed, key, bad, merge=False, force_add=True)
        group = key.rpartition(".")[0]
        if key.endswith("._target_"):  # importable: checked as the node is built
            check = partial(built, group, OmegaConf.select(changed, group))
        elif schema is TrainSettings:
            check = partial(train_refusal, changed)
        else:
            check = partial(checked, schema, changed)
        rows.append(f"| `{key}` | {meaning} | {printed_refusal(check)} |")
    return "\n".join([*rows, *extra_rows]) + "\n"


def signature_rows(setting: str, target: type) -> Iterator[str]:
    """A row per argument that the signature of a class built from the config annotates with its rule."""
    for name, hint in typing.get_type_hints(target.__init__, include_extras=True).items():
        if not hasattr(hint, "__metadata__"):  # Lightning's own classes: Lightning checks them
            continue
        bad = bad_example(TypeAdapter(hint).json_schema())
        meaning = " ".join(m.description for m in hint.__metadata__ if m.description)
        if bad is not None:
            printed = printed_refusal(lambda n=name, b=bad: check_arguments(setting, {n: b}, target))
            yield f"| `{setting}.{name}` | {meaning} | {printed} |"


def train_rows() -> list[str]:
    """The rules across settings (a variant's own settings, heads, the window, the schedule), the callbacks'
    own arguments, and Lightning's refusals, each shown with what it prints."""
    rows = []
    for name, record in VARIANTS.items():
        for setting, meaning in record.settings.items():
            cfg = compose(f"attention={name}", f"attention.{setting}=0")
            rows.append(f"| `attention.{setting}` ({name}) | {meaning.meaning} | {printed_refusal(lambda c=cfg: checked(TrainSettings, c))} |")
    across = {  # the rules across settings: the variant's record, then the schema's own
        "model.emb_dim=63": "a multi-head variant's heads divide the width",
        "attention=gqa attention.num_kv_groups=3": "key/value groups divide the heads",
        "attention=mha +attention.window=8": "a variant's own setting, given to another variant",
        "attention=simple attention.qkv_bias=true": "a bias for a variant without projections",
        "data.max_length=100": "a window fits the model's context",
        "model.vocab_size=100": "a row for each token id of the data (GPT-2's 50257 for a text)",
        "data=recall data.num_pairs=9 data.seq_len=32": "a recall sequence holds its pairs and questions",
        "data=recall data.num_pairs=17 data.seq_len=100": "a recall sequence's keys are distinct",
        "data=recall data.val_seed=0": "the validation sequences are not the training ones",
        "+model.n_head=2": "a setting no group has",
        "trainer.max_epochs=-1 optimizer.min_lr=1e-5": "a learning-rate schedule needs a run with an end",
    }
    for overrides, rule in across.items():
        rows.append(f"| `{overrides}` | {rule} | {printed_refusal(lambda o=overrides: checked(TrainSettings, compose(*o.split())))} |")
    for config in ("default", "book"):
        for entry, node in compose(f"callbacks={config}").callbacks.items():
            if node is not None and (config == "default" or entry == "book_eval"):
                module, _, name = node._target_.rpartition(".")
                rows += signature_rows(f"callbacks.{entry}", getattr(__import__(module, fromlist=[name]), name))
    for overrides in (["trainer.max_epochs=-2"], ["trainer.devices=0"]):
        cfg = compose(*overrides)
        rule = printed_refusal(lambda c=cfg: train_refusal(c))
        rows.append(f"| `{' '.join(overrides)}` | checked by Lightning | {rule} |")
    return rows
