"""The attention variants, each batched: (batch, tokens, d_in) → (batch, tokens, d_out).

`chapter3` holds the book's chapter 3 in its order (sections 3.3–3.6) plus `sdpa`; `beyond` the variants
of the book's bonus material that shrink the KV cache (`gqa`, `mqa`, `swa`, `mla`). Every variant takes the
two switches the experiment needs: `causal` (no output position sees a later input position) and `dropout`
(on the attention weights, in training mode only), and an optional `KVCache` for generation.
`build_attention` makes any of them by name.
"""

from __future__ import annotations

from torch import nn

from attention_lab.attention.beyond import (
    GroupedQueryAttention,
    MultiHeadLatentAttention,
    MultiQueryAttention,
    SlidingWindowAttention,
)
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
from attention_lab.attention.kv_cache import KVCache

__all__ = [
    "MULTI_HEAD_VARIANTS",
    "VARIANTS",
    "VARIANT_SETTINGS",
    "AttentionBase",
    "CausalAttention",
    "GroupedQueryAttention",
    "KVCache",
    "MultiHeadAttention",
    "MultiHeadAttentionWrapper",
    "MultiHeadLatentAttention",
    "MultiQueryAttention",
    "SDPAttention",
    "SelfAttentionV1",
    "SelfAttentionV2",
    "SimpleSelfAttention",
    "SlidingWindowAttention",
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
    "gqa": GroupedQueryAttention,
    "mqa": MultiQueryAttention,
    "swa": SlidingWindowAttention,
    "mla": MultiHeadLatentAttention,
}
MULTI_HEAD_VARIANTS = ("mha_wrapper", "mha", "sdpa", "gqa", "mqa", "swa", "mla")
# The settings only some variants have: variant → its own (required unless it has a default).
VARIANT_SETTINGS: dict[str, tuple[str, ...]] = {
    "gqa": ("num_kv_groups",),
    "mqa": ("num_kv_groups",),  # optional: it can only be 1
    "swa": ("window",),
    "mla": ("kv_latent_dim",),
}
OPTIONAL_SETTINGS = {("mqa", "num_kv_groups")}


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
    num_kv_groups: int | None = None,
    window: int | None = None,
    kv_latent_dim: int | None = None,
) -> nn.Module:
    """Build the variant `name`, a module mapping (batch, tokens, d_in) → (batch, tokens, d_out).

    Single-head variants accept only num_heads=1; `simple` has no bias to switch on. num_kv_groups (gqa,
    mqa), window (swa) and kv_latent_dim (mla) belong to their variants: required there, refused elsewhere.
    """
    if name not in VARIANTS:
        raise ValueError(f"unknown attention variant {name!r}; choose one of {', '.join(VARIANTS)}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"attention dropout={dropout} must be in [0, 1)")
    given = {"num_kv_groups": num_kv_groups, "window": window, "kv_latent_dim": kv_latent_dim}
    given = {setting: value for setting, value in given.items() if value is not None}
    own = VARIANT_SETTINGS.get(name, ())
    for setting, value in given.items():
        if setting not in own:
            users = ", ".join(v for v, settings in VARIANT_SETTINGS.items() if setting in settings)
            raise ValueError(
                f"attention variant {name!r} has no {setting} (got {value}): a setting of {users} only"
            )
    for setting in own:
        if setting not in given and (name, setting) not in OPTIONAL_SETTINGS:
            raise ValueError(f"attention variant {name!r} needs {setting}, a whole number >= 1")
    kwargs = dict(d_in=d_in, d_out=d_out, context_length=context_length, dropout=dropout, causal=causal)
    if name in MULTI_HEAD_VARIANTS:
        return VARIANTS[name](**kwargs, num_heads=num_heads, qkv_bias=qkv_bias, **given)
    if num_heads != 1:
        raise ValueError(f"attention variant {name!r} is single-head: num_heads={num_heads} must be 1")
    if name in ("simple", "self_v1"):  # no nn.Linear, so no bias to switch on
        if qkv_bias:
            raise ValueError(f"attention variant {name!r} has no bias parameters, so qkv_bias must be false")
        return VARIANTS[name](**kwargs)
    return VARIANTS[name](**kwargs, qkv_bias=qkv_bias)
