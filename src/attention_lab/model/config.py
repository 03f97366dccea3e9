"""The model's facts, each with one home (as litgpt's `Config`): the sizes of the GPT (conf/model/*.yaml)
and the attention variant with its switches (conf/attention/*.yaml). Pydantic checks each value's type and
range when a config is made; the rules that tie a variant to the sizes are in its registry record."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from attention_lab.attention import VARIANTS
from attention_lab.attention.positions import ENCODINGS
from attention_lab.rules import CHECKED, LOGS, Name, rule

VariantName = rule(str, VARIANTS.__contains__, lambda _: f"it must be one of {', '.join(VARIANTS)}", "flash")


class ModelConfig(BaseModel):
    """Sizes of the GPT. `n_heads` is the head count of the multi-head variants; the single-head ones
    (simple … causal) have one head whatever it says. The dropout rates of the embeddings and the shortcut
    follow `drop_rate` where they are null (the book's one drop_rate): checked, they hold their values."""

    model_config = CHECKED

    name: Name = Field("custom", description=LOGS)
    vocab_size: int | None = Field(
        50257, ge=1, description="rows of the token embedding and the output head; null: the data's token ids"
    )
    context_length: int = Field(256, ge=1, description="the longest input, in tokens")
    emb_dim: int = Field(768, ge=1, description="the width of the model")
    n_layers: int = Field(12, ge=1, description="the number of transformer blocks")
    n_heads: int = Field(12, ge=1, description="the number of attention heads")
    drop_rate: float = Field(0.1, ge=0, lt=1, description="embedding and shortcut dropout, as the book's")
    drop_rate_emb: float | None = Field(None, ge=0, lt=1, description="on the embeddings; null: drop_rate")
    drop_rate_shortcut: float | None = Field(
        None, ge=0, lt=1, description="on a sublayer's output, before the shortcut adds it; null: drop_rate"
    )
    pos_emb: Literal[ENCODINGS] = Field(
        "learned", description="learned: the book's embeddings; none: only the mask tells order; rope; alibi"
    )
    rope_base: float = Field(10_000.0, gt=0, description="RoPE's angle base (pos_emb=rope)")

    @model_validator(mode="before")
    @classmethod
    def rates_follow_drop_rate(cls, values: Any) -> Any:
        return effective_rates(values) if isinstance(values, dict) else values


def effective_rates(model: dict[str, Any]) -> dict[str, Any]:
    """A model node with drop_rate_emb and drop_rate_shortcut at drop_rate where they are null."""
    rate = model.get("drop_rate", ModelConfig.model_fields["drop_rate"].default)
    places = ("drop_rate_emb", "drop_rate_shortcut")
    return {**model, **{key: rate for key in places if model.get(key) is None}}


class AttentionConfig(BaseModel):
    """Which attention variant each block uses, its switches, and its own settings (e.g. `window` of swa:
    the fields beyond the four below, which the variant's registry record names)."""

    model_config = ConfigDict(**{**CHECKED, "extra": "allow"})

    name: VariantName = Field("mha", description="the attention variant, conf/attention/<name>.yaml")
    causal: bool = Field(True, description="mask the future tokens")
    dropout: float = Field(0.1, ge=0, lt=1, description="the probability of zeroing an attention weight")
    qkv_bias: bool = Field(False, description="bias in the query, key and value projections")

    @property
    def own_settings(self) -> dict[str, Any]:
        """The variant's own settings, e.g. {"window": 16} for swa."""
        return dict(self.model_extra or {})
