"""The one record of each attention variant, and `build_attention`, which makes any of them by name.

A variant is registered where its class is written, with the `@register(...)` decorator: its name (as in
`attention=<name>`), the book's section, one line on what it is, whether it has several heads and q/k/v
projections with a bias, its own settings and what it caches per token (or as a state). Everything else
reads this record: `build_attention`, the settings checks, the KV-memory estimate, the report and the
docs' variant tables. docs/adding-a-variant.md walks through adding one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from attention_lab.attention.positions import ENCODINGS, rope_problem
from attention_lab.errors import refusal


@dataclass(frozen=True)
class Setting:
    """A setting only some variants have (e.g. `attention.window` of swa): a whole number >= 1 (or with
    kind=bool, true or false), required by the variant; its starting value is in the variant's
    conf/attention/<name>.yaml."""

    meaning: str
    divides_heads: bool = False  # it must divide model.n_heads (key/value heads shared by query heads)
    only: int | None = None  # the one value the variant takes (mqa: one key/value head)
    kind: type = int


@dataclass(frozen=True)
class Sizes:
    """What a cache-size formula may use: one layer's width and heads, the context and the own settings."""

    emb_dim: int
    n_heads: int
    context_length: int
    settings: Mapping[str, Any]

    @property
    def head_dim(self) -> int:
        return self.emb_dim // self.n_heads


@dataclass(frozen=True)
class Problem:
    """A rule of a variant that a combination of settings breaks, in the settings' own names."""

    setting: str  # e.g. "attention.num_kv_groups" or "model.emb_dim"
    value: Any
    reason: str  # what is allowed
    given: str = ""  # the other setting that makes the value wrong, e.g. "model.n_heads=4"

    def __str__(self) -> str:
        return refusal(self.setting, self.value, self.reason, self.given)


def keys_and_values(sizes: Sizes) -> int:
    return 2 * sizes.emb_dim  # keys + values, heads · head_dim = emb_dim each


def whole_context(sizes: Sizes) -> int:
    return sizes.context_length


def nothing(sizes: Sizes) -> int:
    return 0


@dataclass(frozen=True)
class Variant:
    """Everything the project knows about one attention variant."""

    name: str
    cls: type[nn.Module]
    section: str  # the book's section, or where beyond the chapter it comes from
    summary: str  # what it is, in one line
    multi_head: bool = False  # has model.n_heads heads; single-head variants have one
    qkv_bias: bool = True  # has q/k/v nn.Linear projections whose bias attention.qkv_bias switches on
    settings: Mapping[str, Setting] = field(default_factory=dict)
    cached_per_token: Callable[[Sizes], int] = keys_and_values  # numbers one layer caches per token
    cached_tokens: Callable[[Sizes], int] = whole_context  # tokens one layer keeps
    cached_state: Callable[[Sizes], int] = nothing  # numbers one layer keeps whatever the tokens: a state
    has_weights: bool = True  # attention weights to show (heatmaps, where attention looks); gru has none
    mixes_positions: bool = True  # an output sees other positions' inputs (none: only its own)
    encodings: tuple[str, ...] = ENCODINGS  # the position encodings it can apply (model.pos_emb)
    cannot_train_on: Callable[[str], str | None] = lambda device: None  # why not, on a device type

    def problems(
        self, *, emb_dim: int, n_heads: int, qkv_bias: bool, settings: Mapping[str, Any], pos_emb: str = ""
    ) -> Iterator[Problem]:
        """Every rule of this variant that the settings break; none for a combination it can be built with."""
        for name, value in settings.items():
            if name not in self.settings:
                owners = ", ".join(v.name for v in VARIANTS.values() if name in v.settings)
                where = f"a setting of {owners} only" if owners else "not a setting of any variant"
                yield Problem(f"attention.{name}", value, f"it is {where}", f"attention={self.name}")
        for name, setting in self.settings.items():
            value = settings.get(name)
            if setting.kind is bool and not isinstance(value, bool):
                yield Problem(f"attention.{name}", value, f"it must be true or false ({setting.meaning})")
            elif setting.kind is int and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                yield Problem(
                    f"attention.{name}", value, f"it must be a whole number >= 1 ({setting.meaning})"
                )
            elif setting.only is not None and value != setting.only:
                reason = f"it must be {setting.only} ({setting.meaning})"
                yield Problem(f"attention.{name}", value, reason, f"attention={self.name}")
            elif setting.divides_heads and n_heads % value:
                reason = f"it must divide n_heads ({setting.meaning})"
                yield Problem(f"attention.{name}", value, reason, f"model.n_heads={n_heads}")
        if qkv_bias and not self.qkv_bias:
            reason = "the variant has no query/key/value projection with a bias to switch on"
            yield Problem("attention.qkv_bias", qkv_bias, reason, f"attention={self.name}")
        if self.multi_head and n_heads >= 1 and emb_dim % n_heads:
            reason = f"it must be a multiple of n_heads (attention={self.name} gives each emb_dim / n_heads)"
            yield Problem("model.emb_dim", emb_dim, reason, f"model.n_heads={n_heads}")
        heads = n_heads if self.multi_head else 1
        if pos_emb and pos_emb not in self.encodings:
            reason = f"it must be one of {', '.join(self.encodings)} (the variant cannot apply {pos_emb})"
            yield Problem("model.pos_emb", pos_emb, reason, f"attention={self.name}")
        elif (problem := rope_problem(pos_emb, emb_dim // max(heads, 1))) is not None:
            yield Problem("model.pos_emb", pos_emb, problem, f"attention={self.name} of width {emb_dim}")

    def cache_numbers(self, sizes: Sizes) -> tuple[int, int, int]:
        """(numbers one layer caches per token, tokens it keeps, numbers it keeps whatever the tokens) for a
        generation of sizes.context_length."""
        tokens = min(self.cached_tokens(sizes), sizes.context_length)
        return self.cached_per_token(sizes), tokens, self.cached_state(sizes)


VARIANTS: dict[str, Variant] = {}  # in the order they are registered: the chapter's


def register(name: str, **facts: Any) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: record the class as attention variant `name` with `facts` (the fields of Variant)."""

    def add(cls: type[nn.Module]) -> type[nn.Module]:
        if name in VARIANTS:
            raise ValueError(f"attention variant {name!r} is registered already (by {VARIANTS[name].cls})")
        VARIANTS[name] = Variant(name, cls, **facts)
        return cls

    return add


def variant(name: str) -> Variant:
    """The record of `name`; a ValueError listing the variants for a name that is none of them."""
    if name not in VARIANTS:
        raise ValueError(f"unknown attention variant {name!r}; choose one of {', '.join(VARIANTS)}")
    return VARIANTS[name]


def build_attention(
    name: str,
    *,
    d_in: int,
    d_out: int,
    context_length: int,
    num_heads: int = 1,
    dropout: float = 0.0,
    causal: bool = True,
    qkv_bias: bool = False,
    **own_settings: Any,
) -> nn.Module:
    """The variant `name` as a module mapping (batch, tokens, d_in) → (batch, tokens, d_out).

    Multi-head variants take `num_heads`; single-head ones accept only 1. `own_settings` are the variant's
    own (e.g. window=16 for swa): each required there and refused elsewhere.
    """
    record = variant(name)
    if not record.multi_head and num_heads != 1:
        raise ValueError(f"attention variant {name!r} is single-head: num_heads={num_heads} must be 1")
    found = record.problems(emb_dim=d_out, n_heads=num_heads, qkv_bias=qkv_bias, settings=own_settings)
    problem = next(found, None)
    if problem is not None:
        raise ValueError(str(problem))
    kwargs: dict[str, Any] = dict(d_in=d_in, d_out=d_out, context_length=context_length, dropout=dropout)
    kwargs |= dict(causal=causal, **own_settings)
    if record.multi_head:
        kwargs["num_heads"] = num_heads
    if record.qkv_bias:
        kwargs["qkv_bias"] = qkv_bias
    return record.cls(**kwargs)
