"""Beyond chapter 3: the attention variants of the book's bonus material (ch04/04_gqa, 05_mla, 06_swa), each a
small change to `MultiHeadAttention` that shrinks what a KV cache must hold per token.

All keep the shapes of `MultiHeadAttention`, (batch, tokens, d_in) → (batch, tokens, d_out), its parameter
names where the role is the same (so weights load across variants), and `AttentionBase.attend`.
"""

from __future__ import annotations

import torch
from torch import nn

from attention_lab.attention.chapter3 import MultiHeadAttention
from attention_lab.attention.kv_cache import KVCache
from attention_lab.attention.registry import Setting, Sizes, register


def grouped_keys_and_values(sizes: Sizes) -> int:
    return 2 * sizes.settings["num_kv_groups"] * sizes.head_dim  # keys + values of the key/value heads


@register(
    "gqa",
    section="beyond: ch04/04_gqa",
    summary="grouped-query attention: `num_kv_groups` key/value heads, each shared by several query heads",
    multi_head=True,
    settings={
        "num_kv_groups": Setting(
            "key/value heads, each shared by n_heads / num_kv_groups query heads", divides_heads=True
        )
    },
    cached_per_token=grouped_keys_and_values,
)
class GroupedQueryAttention(MultiHeadAttention):
    """Grouped-query attention (Ainslie et al. 2023; the book's ch04/04_gqa): `num_kv_groups` key/value
    heads, each shared by num_heads / num_kv_groups consecutive query heads.

    q (b, heads, T, head_dim); k, v (b, kv_groups, T, head_dim), repeated to (b, heads, T, head_dim) only
    for the matmul, so a KV cache holds kv_groups heads. kv_groups = heads is `mha`; 1 is `mqa`.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        context_length: int,
        dropout: float = 0.0,
        num_heads: int = 1,
        causal: bool = True,
        qkv_bias: bool = False,
        num_kv_groups: int = 1,
    ):
        super().__init__(d_in, d_out, context_length, dropout, num_heads, causal, qkv_bias)
        self.num_kv_groups = num_kv_groups
        self.W_key = nn.Linear(d_in, num_kv_groups * self.head_dim, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, num_kv_groups * self.head_dim, bias=qkv_bias)

    def split_kv_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(b, T, kv_groups·head_dim) → (b, kv_groups, T, head_dim)."""
        b, num_tokens, _ = x.shape
        return x.view(b, num_tokens, self.num_kv_groups, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        self.check_length(x.shape[1])
        queries = self.split_heads(self.W_query(x))  # (b, heads, T, head_dim)
        keys, values = self.split_kv_heads(self.W_key(x)), self.split_kv_heads(self.W_value(x))
        if cache is not None:
            keys, values = cache.extend(self, keys, values)  # the groups, not their repeats
        # Query heads g·size … (g+1)·size − 1 share key/value head g.
        group_size = self.num_heads // self.num_kv_groups
        keys, values = keys.repeat_interleave(group_size, dim=1), values.repeat_interleave(group_size, dim=1)
        context = self.attend(queries, keys, values, scale=self.head_dim**-0.5)
        return self.out_proj(self.merge_heads(context))


@register(
    "mqa",
    section="beyond: Shazeer 2019",
    summary="multi-query attention: one key/value head for all query heads",
    multi_head=True,
    settings={"num_kv_groups": Setting("one key/value head, shared by every query head", only=1)},
    cached_per_token=grouped_keys_and_values,
)
class MultiQueryAttention(GroupedQueryAttention):
    """Multi-query attention (Shazeer 2019): grouped-query attention with one key/value head (b, 1, T,
    head_dim) shared by every query head, the smallest KV cache of the multi-head variants."""

    def __init__(
        self,
        d_in: int,
        d_out: int,
        context_length: int,
        dropout: float = 0.0,
        num_heads: int = 1,
        causal: bool = True,
        qkv_bias: bool = False,
        num_kv_groups: int = 1,
    ):
        super().__init__(d_in, d_out, context_length, dropout, num_heads, causal, qkv_bias, num_kv_groups)


@register(
    "swa",
    section="beyond: ch04/06_swa",
    summary="sliding-window attention: each query sees the last `window` keys",
    multi_head=True,
    settings={"window": Setting("the most recent keys a query sees, itself included")},
    cached_tokens=lambda sizes: sizes.settings["window"],
)
class SlidingWindowAttention(MultiHeadAttention):
    """Sliding-window attention (Beltagy et al. 2020, as in Mistral and Gemma; the book's ch04/06_swa):
    `MultiHeadAttention` where query i sees only keys j with i − window < j ≤ i, itself and the window − 1
    before it. Without the causal mask the band is symmetric: |i − j| < window.

    Shapes as `MultiHeadAttention`; a KV cache keeps the last `window` keys and values, whatever the length.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        context_length: int,
        dropout: float = 0.0,
        num_heads: int = 1,
        causal: bool = True,
        qkv_bias: bool = False,
        window: int = 1,
    ):
        super().__init__(d_in, d_out, context_length, dropout, num_heads, causal, qkv_bias)
        self.window = window
        positions = torch.arange(context_length)
        far = (positions[:, None] - positions[None, :]).abs() >= window  # (T, T): outside the band
        self.register_buffer("far", far, persistent=False)

    def hidden_mask(self, num_queries: int, num_keys: int) -> torch.Tensor:
        far = self.far[num_keys - num_queries : num_keys, :num_keys]
        return far | self.mask[num_keys - num_queries : num_keys, :num_keys] if self.causal else far

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        queries, keys, values = self.project_qkv(x)  # (b, heads, T, head_dim) each
        if cache is not None:
            keys, values = cache.extend(self, keys, values, keep=self.window)
        context = self.attend(queries, keys, values, scale=self.head_dim**-0.5)
        return self.out_proj(self.merge_heads(context))


@register(
    "mla",
    section="beyond: ch04/05_mla",
    summary="multi-head latent attention: keys and values expanded from a small cached latent",
    multi_head=True,
    settings={"kv_latent_dim": Setting("the width of the cached key/value latent")},
    cached_per_token=lambda sizes: sizes.settings["kv_latent_dim"],
)
class MultiHeadLatentAttention(MultiHeadAttention):
    """Multi-head latent attention (DeepSeek-V2; the book's ch04/05_mla, without its decoupled RoPE keys):
    x is compressed once into a latent c of `kv_latent_dim` per token, and every head's keys and values are
    expanded from it. A KV cache holds c: kv_latent_dim numbers per token instead of 2·d_out.

    x (b, T, d_in) → W_kv_down → c (b, T, latent) → W_key, W_value → k, v (b, heads, T, head_dim);
    q as in `MultiHeadAttention`.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        context_length: int,
        dropout: float = 0.0,
        num_heads: int = 1,
        causal: bool = True,
        qkv_bias: bool = False,
        kv_latent_dim: int = 1,
    ):
        super().__init__(d_in, d_out, context_length, dropout, num_heads, causal, qkv_bias)
        self.W_kv_down = nn.Linear(d_in, kv_latent_dim, bias=qkv_bias)
        # Keys and values now come from the latent, not from x.
        self.W_key = nn.Linear(kv_latent_dim, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(kv_latent_dim, d_out, bias=qkv_bias)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        self.check_length(x.shape[1])
        latent = self.W_kv_down(x)  # (b, T, latent)
        if cache is not None:
            (latent,) = cache.extend(self, latent)  # (b, T_cached + T, latent)
        queries = self.split_heads(self.W_query(x))
        keys, values = self.split_heads(self.W_key(latent)), self.split_heads(self.W_value(latent))
        context = self.attend(queries, keys, values, scale=self.head_dim**-0.5)
        return self.out_proj(self.merge_heads(context))
