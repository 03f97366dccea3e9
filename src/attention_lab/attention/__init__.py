"""The attention variants, each batched: (batch, tokens, d_in) → (batch, tokens, d_out).

`chapter3` holds the book's chapter 3 in its order (sections 3.3–3.6) plus `sdpa`; `beyond` the variants of
the book's bonus material that shrink the KV cache (`gqa`, `mqa`, `swa`, `mla`); `baselines` what came before
attention (`none`, `gru`, section 3.1); `efficient` and `flex` the bonus notebook's implementations of `mha`;
`positions` RoPE and ALiBi. Every variant takes the two switches the experiment needs: `causal` (no output
position sees a later input position) and `dropout` (on the attention weights, or on the outputs of a layer
without weights, in training mode only), and an optional `KVCache` for generation. Each class is registered
with its record (`registry.Variant`); `build_attention` makes any of them by name. A module of your own in
this folder, with a class and its `@register(...)`, adds a variant (docs/adding-a-variant.md)."""

import importlib
import pkgutil

# Importing a module registers its variants, in this order: the chapter's, mha computed other ways (these
# three lines), those that shrink the KV cache (beyond), then any other module of this package (the loop).
import attention_lab.attention.chapter3
import attention_lab.attention.efficient
import attention_lab.attention.flex  # noqa: F401
from attention_lab.attention.base import AttentionBase
from attention_lab.attention.beyond import (
    GroupedQueryAttention,
    MultiHeadLatentAttention,
    MultiQueryAttention,
    SlidingWindowAttention,
)
from attention_lab.attention.chapter3 import (
    CausalAttention,
    MultiHeadAttention,
    MultiHeadAttentionWrapper,
    SelfAttentionV1,
    SelfAttentionV2,
    SimpleSelfAttention,
)
from attention_lab.attention.efficient import SDPAttention
from attention_lab.attention.kv_cache import KVCache
from attention_lab.attention.registry import (
    VARIANTS,
    Problem,
    Setting,
    Sizes,
    Variant,
    build_attention,
    register,
    variant,
)

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "VARIANTS",
    "AttentionBase",
    "CausalAttention",
    "GroupedQueryAttention",
    "KVCache",
    "MultiHeadAttention",
    "MultiHeadAttentionWrapper",
    "MultiHeadLatentAttention",
    "MultiQueryAttention",
    "Problem",
    "SDPAttention",
    "SelfAttentionV1",
    "SelfAttentionV2",
    "Setting",
    "SimpleSelfAttention",
    "Sizes",
    "SlidingWindowAttention",
    "Variant",
    "build_attention",
    "register",
    "variant",
]
