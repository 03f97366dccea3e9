"""Every setting a user can type, checked before anything is built: one table per command line
(setting → Rule or FreeForm, src/attention_lab/rules.py), walked over the composed config.

    validate(cfg)           train.py and attention_lab.train.run(cfg)   (conf/config.yaml)
    validate_generate(cfg)  python -m attention_lab.generate            (conf/generate.yaml)
    validate_report(cfg)    python -m attention_lab.report              (conf/report.yaml)
    validate_kv_memory(cfg) python -m attention_lab.kv_memory           (conf/kv_memory.yaml)

A bad value raises ConfigError: `<setting>=<value> is not allowed: it must be <allowed>`.
A `*` in a table key stands for any one part of the dotted name (a callback's name, a list index).
The Trainer's and the callbacks' settings are tabled in attention_lab.checks_trainer.
`python -m attention_lab.checks` writes docs/troubleshooting.md's table of the settings from these tables.
"""

from __future__ import annotations

import functools
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from attention_lab import rules as r
from attention_lab.checks_trainer import (
    CALLBACKS,
    TRAINER,
    check_accelerator_present,
    check_schedule_has_an_end,
)
from attention_lab.errors import ConfigError
from attention_lab.rules import FreeForm, Rule, Table, check_table, check_targets_arguments, rule_for

GROUPS_AS_DICTS = ("model", "attention", "optimizer")  # LitGPT(model=..., attention=..., optimizer=...)


@functools.cache
def train_table() -> Table:
    """conf/config.yaml's settings (built on first use: the variant names import torch)."""
    from attention_lab.attention import VARIANTS
    from attention_lab.model import POS_EMB_CHOICES
    from attention_lab.shuffle import SHUFFLE_MODES
    from attention_lab.text import text_path_problem
    from attention_lab.tokenizer import VOCAB_SIZE

    name = r.safe_name("it names a directory under logs/")
    return {
        "seed": r.whole(0, 2**32 - 1, meaning="seeds weights, dropout and shuffling"),
        "experiment_name": name,
        "run_name": name,
        "ckpt_path": Rule(
            "null, last (the newest checkpoint of this run name) or the path of a .ckpt file",
            lambda v: v is None or v == "last" or isinstance(v, str) and bool(v.strip()),
            "",
        ),
        "paths.root": r.existing_directory("the checkout holding conf/ and data/"),
        "paths.data_dir": r.directory_path("where the text is kept"),
        "paths.log_dir": r.directory_path("where TensorBoard logs and checkpoints go"),
        "attention.name": r.choice(tuple(VARIANTS), "the attention variant of chapter 3"),
        "attention.causal": r.boolean("mask the future tokens"),
        "attention.dropout": r.fraction(allow_zero=True, meaning="the probability of zeroing a weight"),
        "attention.qkv_bias": r.boolean("bias in the query, key and value projections"),
        **{
            f"attention.{setting}": r.null_or(r.whole(1, meaning=meaning))
            for setting, meaning in VARIANT_SETTING_MEANINGS
        },
        "model.name": name,
        "model.vocab_size": r.whole(
            VOCAB_SIZE, meaning=f"the GPT-2 tokenizer's {VOCAB_SIZE} ids each need a row"
        ),
        "model.context_length": r.whole(1, meaning="the longest input, in tokens"),
        "model.emb_dim": r.whole(1, meaning="the width of the model"),
        "model.n_layers": r.whole(1, meaning="the number of transformer blocks"),
        "model.n_heads": r.whole(1, meaning="the number of attention heads"),
        "model.drop_rate": r.fraction(allow_zero=True, meaning="the probability of zeroing a value"),
        "model.pos_emb": r.choice(
            POS_EMB_CHOICES, "learned: the book's position embeddings; none: word order only through the mask"
        ),
        "optimizer.lr": r.number(0, low_open=True, meaning="the learning rate"),
        "optimizer.weight_decay": r.number(0, low_open=False, meaning="AdamW's decoupled weight decay"),
        "optimizer.fused": r.boolean("AdamW in one kernel"),
        "optimizer.warmup_steps": r.whole(0, meaning="optimizer steps of linear warmup; 0 = none"),
        "optimizer.initial_lr": r.null_or(r.number(0, low_open=False, meaning="where the warmup starts")),
        "optimizer.min_lr": r.null_or(r.number(0, low_open=False, meaning="where the cosine decay ends")),
        "module._target_": r.importable("the LightningModule"),
        "module._convert_": r.choice(("none", "partial", "object", "all"), "Hydra's conversion of arguments"),
        "module.model": FreeForm("${model}: the model group, checked under model.*"),
        "module.attention": FreeForm("${attention}: the attention group, checked under attention.*"),
        "module.optimizer": FreeForm("${optimizer}: the optimizer group, checked under optimizer.*"),
        "module.fused_loss": r.boolean("output head and cross-entropy in one pass"),
        "module.compile": r.boolean("torch.compile the network"),
        "data._target_": r.importable("the LightningDataModule"),
        "data.path": Rule(
            "a UTF-8 text file, or a path that does not exist yet (data.url is downloaded there)",
            lambda v: isinstance(v, str) and text_path_problem(v) is None,
            "/",
            why_not=lambda v: text_path_problem(str(v)),
        ),
        "data.url": r.url("where a missing text is downloaded from"),
        "data.sha256": r.sha256_hex("the expected hash of the download; null = not checked"),
        "data.max_length": r.whole(1, meaning="the tokens in one training window"),
        "data.stride": r.whole(1, meaning="the step between window starts, in tokens"),
        "data.batch_size": r.whole(1, meaning="the windows in one batch"),
        "data.train_ratio": r.fraction(allow_zero=False, meaning="the share of the text used to train"),
        "data.num_workers": r.whole(0, meaning="DataLoader worker processes; 0 loads in the main process"),
        "data.seed": r.whole(0, 2**32 - 1, meaning="fixes each epoch's order"),
        "data.shuffle": r.choice(tuple(SHUFFLE_MODES), "where each epoch's order comes from"),
        "logger._target_": r.importable("the Lightning logger"),
        "logger.save_dir": r.directory_path("the experiment's log directory"),
        "logger.name": name,
        "logger.version": r.null_or(r.either(r.whole(0, meaning="version_<n>"), name)),
        "logger.default_hp_metric": r.boolean("log a placeholder hp_metric"),
        **TRAINER,
        **CALLBACKS,
    }


# The settings of the variants beyond chapter 3 (attention.VARIANT_SETTINGS says which variant takes which).
VARIANT_SETTING_MEANINGS = (
    ("num_kv_groups", "key/value heads, each shared by n_heads / num_kv_groups query heads"),
    ("window", "the most recent keys a query sees, itself included"),
    ("kv_latent_dim", "the width of the cached key/value latent"),
)


def check_variant_settings(cfg: DictConfig) -> None:
    """num_kv_groups, window and kv_latent_dim: set where the variant uses them, absent elsewhere."""
    from attention_lab.attention import VARIANT_SETTINGS as USED_BY

    name = cfg.attention.name
    own = USED_BY.get(name, ())
    for setting, _ in VARIANT_SETTING_MEANINGS:
        key, value = f"attention.{setting}", OmegaConf.select(cfg, f"attention.{setting}")
        if setting not in own and value is not None:
            users = ", ".join(v for v, settings in USED_BY.items() if setting in settings)
            raise ConfigError(
                f"{key}={value!r} is not allowed with attention={name}: it is a setting of {users} only"
            )
        if setting in own and value is None:
            raise ConfigError(
                f"{key}=None is not allowed with attention={name}: it must be a whole number >= 1"
            )
    if "num_kv_groups" in own:
        groups, heads = cfg.attention.num_kv_groups, cfg.model.n_heads
        if name == "mqa" and groups != 1:
            raise ConfigError(
                f"attention.num_kv_groups={groups} is not allowed with attention=mqa: it must be 1"
            )
        if heads % groups:
            raise ConfigError(
                f"attention.num_kv_groups={groups} is not allowed with model.n_heads={heads}: it must divide "
                "n_heads (each key/value head serves n_heads / num_kv_groups query heads)"
            )


GENERATE: Table = {
    "ckpt": r.text("a .ckpt written by train.py, or last"),
    "prompt": r.text("the text to continue, at least one token"),
    "max_new_tokens": r.whole(0, meaning="tokens to generate"),
    "temperature": r.number(
        0, low_open=False, meaning="0 = greedy; > 0 samples softmax(logits / temperature)"
    ),
    "top_k": r.null_or(r.whole(1, meaning="sample among the k most likely tokens")),
    "seed": r.whole(0, 2**32 - 1, meaning="seeds sampling"),
    "log_dir": r.directory_path("where ckpt=last looks"),
}

REPORT: Table = {
    "log_dir": r.existing_directory("the runs to compare, e.g. logs/mask_dropout_tiny"),
    "out": r.null_or(
        Rule(
            "a file path ending in .png, .pdf or .svg (the figure of the loss curves; null = "
            "<log_dir>/report.png)",
            lambda v: (
                isinstance(v, str) and v.lower().endswith((".png", ".pdf", ".svg")) and not Path(v).is_dir()
            ),
            "curves.xyz",
        )
    ),
    "format": r.choice(("auto", "rich", "markdown", "plain"), "how the tables are printed"),
}


def validate(cfg: DictConfig, *, importing: bool = True) -> None:
    """Raise ConfigError for the first setting of conf/config.yaml that is not allowed (train.py and
    attention_lab.train.run). Checkpoint contents are checked by attention_lab.resume, text contents where
    they are read (attention_lab.text.load_text); both before a model is built.

    `importing=False` leaves out the checks that import Lightning or the classes the config names: train.py
    runs the others first, so that a bad value is reported before those imports (in about 2 s, not 5).
    """
    check_table(cfg, train_table(), importing=importing)
    if importing:
        check_targets_arguments(cfg)
    check_known_settings(cfg, train_table())
    check_variant_settings(cfg)
    check_heads_divide_width(cfg)
    check_schedule_has_an_end(cfg)
    check_accelerator_present(cfg)
    model, data = cfg.model, cfg.data
    if data.max_length > model.context_length:
        raise ConfigError(
            f"data.max_length={data.max_length} is not allowed with model.context_length="
            f"{model.context_length}: it must be <= {model.context_length}, the most tokens the position "
            "embeddings and the causal mask cover"
        )


def check_known_settings(cfg: DictConfig, table: Table, groups: tuple[str, ...] = GROUPS_AS_DICTS) -> None:
    """The groups the model is built from as plain dicts: a key no rule names (a typo added with `+`)
    would only fail as a TypeError when the model is built."""
    for group in groups:
        for key in cfg.get(group) or {}:
            if rule_for(table, f"{group}.{key}") is None:
                names = ", ".join(k.split(".", 1)[1] for k in table if k.startswith(f"{group}."))
                raise ConfigError(
                    f"{group}.{key} is not allowed: it is not a setting of {group} (those are: {names})"
                )


def check_heads_divide_width(cfg: DictConfig) -> None:
    """A multi-head variant splits model.emb_dim into model.n_heads equal heads."""
    from attention_lab.attention import MULTI_HEAD_VARIANTS

    model, attention = cfg.model, cfg.attention
    if attention.name in MULTI_HEAD_VARIANTS and model.emb_dim % model.n_heads:
        raise ConfigError(
            f"model.emb_dim={model.emb_dim} is not allowed with model.n_heads={model.n_heads}: each head of "
            f"attention={attention.name} gets emb_dim / n_heads dimensions; it must be a multiple of n_heads"
        )


@functools.cache
def kv_memory_table() -> Table:
    """conf/kv_memory.yaml: the model and attention settings of train.py, and what the estimate adds."""
    from attention_lab.kv_memory import BYTES_PER_VALUE

    shared = {key: rule for key, rule in train_table().items() if key.startswith(("model.", "attention."))}
    return {
        **shared,
        "batch_size": r.whole(1, meaning="sequences cached side by side"),
        "context_length": r.whole(1, meaning="tokens cached per sequence"),
        "dtype": r.choice(tuple(BYTES_PER_VALUE), "the type of the cached values"),
        "optimizer.lr": FreeForm("set by each conf/model size for train.py; the estimate does not use it"),
    }


def validate_generate(cfg: DictConfig) -> None:
    check_table(cfg, GENERATE)


def validate_report(cfg: DictConfig) -> None:
    check_table(cfg, REPORT)


def validate_kv_memory(cfg: DictConfig) -> None:
    check_table(cfg, kv_memory_table())
    check_known_settings(cfg, kv_memory_table(), ("model", "attention"))
    check_variant_settings(cfg)
    check_heads_divide_width(cfg)


if __name__ == "__main__":
    from attention_lab.troubleshooting import write

    write()
