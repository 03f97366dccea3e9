"""The model's facts, each with one home (as litgpt's `Config`): the sizes of the GPT (conf/model/*.yaml)
and the attention variant with its switches (conf/attention/*.yaml). Pydantic checks each value's type and
range when a config is made; the rules that tie a variant to the sizes are in its registry record."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from attention_lab.attention.positions import ENCODINGS


class ModelConfig(BaseModel):
    """Sizes of the GPT. `n_heads` is the head count of the multi-head variants; the single-head ones
    (simple … causal) have one head whatever it says."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str = Field("custom", description="it names a directory under logs/")
    vocab_size: int = Field(50257, ge=1, description="rows of the token embedding and the output head")
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

    @property
    def embedding_dropout(self) -> float:
        return self.drop_rate if self.drop_rate_emb is None else self.drop_rate_emb

    @property
    def shortcut_dropout(self) -> float:
        return self.drop_rate if self.drop_rate_shortcut is None else self.drop_rate_shortcut


class AttentionConfig(BaseModel):
    """Which attention variant each block uses, its switches, and its own settings (e.g. `window` of swa:
    the fields beyond the four below, which the variant's registry record names)."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    name: str = Field("mha", description="the attention variant: one of attention_lab.attention.VARIANTS")
    causal: bool = Field(True, description="mask the future tokens")
    dropout: float = Field(0.1, ge=0, lt=1, description="the probability of zeroing an attention weight")
    qkv_bias: bool = Field(False, description="bias in the query, key and value projections")

    @property
    def own_settings(self) -> dict[str, Any]:
        """The variant's own settings, e.g. {"window": 16} for swa."""
        return dict(self.model_extra or {})
