"""The attention variants, each batched: (batch, tokens, d_in) → (batch, tokens, d_out).

`chapter3` holds the book's chapter 3 in its order (sections 3.3–3.6) plus `sdpa`. Every variant takes the
two switches the experiment needs: `causal` (no output position sees a later input position) and `dropout`
(on the attention weights, in training mode only). `build_attention` makes any of them by name.
"""

from __future__ import annotations

from torch import nn

from attention_lab.attention.chapter3 import (
    AttentionBase,
    CausalAttention,
    MultiHeadAttention,
    MultiHeadAttentionWrapper,
    SDPAttention,
    SelfAttentionV1,
    SelfAttentionV2,
    SimpleSelfAttention,
)

__all__ = [
    "MULTI_HEAD_VARIANTS",
    "VARIANTS",
    "AttentionBase",
    "CausalAttention",
    "MultiHeadAttention",
    "MultiHeadAttentionWrapper",
    "SDPAttention",
    "SelfAttentionV1",
    "SelfAttentionV2",
    "SimpleSelfAttention",
    "build_attention",
]

VARIANTS: dict[str, type[nn.Module]] = {
    "simple": SimpleSelfAttention,
    "self_v1": SelfAttentionV1,
    "self_v2": SelfAttentionV2,
    "causal": CausalAttention,
    "mha_wrapper": MultiHeadAttentionWrapper,
    "mha": MultiHeadAttention,
    "sdpa": SDPAttention,
}
MULTI_HEAD_VARIANTS = ("mha_wrapper", "mha", "sdpa")


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
) -> nn.Module:
    """Build the variant `name`, a module mapping (batch, tokens, d_in) → (batch, tokens, d_out).

    Single-head variants accept only num_heads=1; `simple` has no bias to switch on.
    """
    if name not in VARIANTS:
        raise ValueError(f"unknown attention variant {name!r}; choose one of {', '.join(VARIANTS)}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"attention dropout={dropout} must be in [0, 1)")
    kwargs = dict(d_in=d_in, d_out=d_out, context_length=context_length, dropout=dropout, causal=causal)
    if name in MULTI_HEAD_VARIANTS:
        return VARIANTS[name](**kwargs, num_heads=num_heads, qkv_bias=qkv_bias)
    if num_heads != 1:
        raise ValueError(f"attention variant {name!r} is single-head: num_heads={num_heads} must be 1")
    if name in ("simple", "self_v1"):  # no nn.Linear, so no bias to switch on
        if qkv_bias:
            raise ValueError(f"attention variant {name!r} has no bias parameters, so qkv_bias must be false")
        return VARIANTS[name](**kwargs)
    return VARIANTS[name](**kwargs, qkv_bias=qkv_bias)
