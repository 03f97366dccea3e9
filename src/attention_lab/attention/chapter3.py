"""Chapter 3's attention mechanisms, in the chapter's order, each batched: (batch, tokens, d_in) → (batch,
tokens, d_out).

Every variant takes the two switches the experiment needs, even where the book's class has neither:
`causal` (no output position sees a later input position) and `dropout` (on the attention weights, in
training mode only). The shared part — scores → mask → softmax → dropout → weighted sum — lives in
`AttentionBase.attend` (base.py, sections 3.5.1–3.5.2), so each class shows only what its section adds.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from attention_lab.attention.base import AttentionBase
from attention_lab.attention.kv_cache import KVCache
from attention_lab.attention.positions import Positions
from attention_lab.attention.registry import register


@register(
    "simple",
    section="3.3.1–3.3.2",
    summary="no trainable weights: scores = x·xᵀ, softmax, weighted sum of x",
    qkv_bias=False,
    cached_per_token=lambda sizes: sizes.emb_dim,  # keys and values are both x: cached once
)
class SimpleSelfAttention(AttentionBase):
    """3.3.1–3.3.2: no trainable weights. scores = x·xᵀ (unscaled, as in the book), context = weights·x.

    (batch, tokens, d_in) → (batch, tokens, d_in): d_out must equal d_in. Inside the GPT it still trains,
    because the embeddings, LayerNorms and feed-forward layers around it have weights.
    """

    def __init__(
        self, d_in: int, d_out: int, context_length: int, dropout: float = 0.0, causal: bool = False
    ):
        if d_out != d_in:
            raise ValueError(f"simple attention has no projections, so d_out={d_out} must equal d_in={d_in}")
        super().__init__(context_length, dropout, causal)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        self.check_length(x.shape[1])
        # Keys and values are both x itself, so a KV cache holds x once.
        (seen,) = (x,) if cache is None else cache.extend(self, x)
        return self.attend(x, seen, seen, scale=1.0)


@register(
    "self_v1",
    section="3.4.1",
    summary="trainable W_query/W_key/W_value as `nn.Parameter`, scores scaled by 1/√d_k",
    qkv_bias=False,
)
class SelfAttentionV1(AttentionBase):
    """3.4.1: trainable W_query, W_key, W_value as (d_in, d_out) `nn.Parameter`s, scores scaled by 1/√d_k.

    The book fills them with torch.rand for illustration; here they start like nn.Linear's weights
    (uniform ±1/√d_in) so that v1 and v2 train alike and the comparison is about the structure.
    """

    def __init__(
        self, d_in: int, d_out: int, context_length: int, dropout: float = 0.0, causal: bool = False
    ):
        super().__init__(context_length, dropout, causal)
        bound = 1 / math.sqrt(d_in)
        self.W_query = nn.Parameter(torch.empty(d_in, d_out).uniform_(-bound, bound))
        self.W_key = nn.Parameter(torch.empty(d_in, d_out).uniform_(-bound, bound))
        self.W_value = nn.Parameter(torch.empty(d_in, d_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        self.check_length(x.shape[1])
        queries, keys, values = x @ self.W_query, x @ self.W_key, x @ self.W_value  # (b, T, d_out)
        if cache is not None:
            keys, values = cache.extend(self, keys, values)
        return self.attend(queries, keys, values, scale=keys.shape[-1] ** -0.5)


@register("self_v2", section="3.4.2", summary="the same with `nn.Linear`")
class SelfAttentionV2(AttentionBase):
    """3.4.2: the same maths with `nn.Linear` layers (better initialisation, optional qkv bias).

    `nn.Linear` stores its weight transposed: v2.W_query.weight == v1.W_query.T gives identical outputs.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        context_length: int,
        dropout: float = 0.0,
        causal: bool = False,
        qkv_bias: bool = False,
    ):
        super().__init__(context_length, dropout, causal)
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        self.check_length(x.shape[1])
        queries, keys, values = self.W_query(x), self.W_key(x), self.W_value(x)  # (b, T, d_out)
        if cache is not None:
            keys, values = cache.extend(self, keys, values)
        return self.attend(queries, keys, values, scale=keys.shape[-1] ** -0.5)


@register("causal", section="3.5", summary="v2 with the causal mask and dropout on the attention weights")
class CausalAttention(SelfAttentionV2):
    """3.5: self-attention v2 that hides future tokens (−inf above the diagonal before the softmax, so
    each row renormalises over the visible keys) and drops attention weights while training.

    In the book this is where the mask and dropout first appear; here every variant inherits them from
    `AttentionBase`, so this class differs from v2 only in switching the mask on by default.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        context_length: int,
        dropout: float = 0.0,
        causal: bool = True,
        qkv_bias: bool = False,
    ):
        super().__init__(d_in, d_out, context_length, dropout, causal, qkv_bias)


@register(
    "mha_wrapper",
    section="3.6.1",
    summary="`model.n_heads` causal heads run separately, outputs concatenated",
    multi_head=True,
)
class MultiHeadAttentionWrapper(nn.Module):
    """3.6.1: `num_heads` independent causal heads, run one after another, outputs concatenated.

    Each head is d_out / num_heads wide so that the wrapper maps d_in → d_out like `MultiHeadAttention`.
    (batch, tokens, d_in) → num_heads × (batch, tokens, d_out/num_heads) → (batch, tokens, d_out).
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
    ):
        super().__init__()
        self.heads = nn.ModuleList(
            CausalAttention(d_in, d_out // num_heads, context_length, dropout, causal, qkv_bias)
            for _ in range(num_heads)
        )

    def use_positions(self, positions: Positions) -> None:
        """Each head its own share of the position encoding (ALiBi: head i's slope)."""
        for i, head in enumerate(self.heads):
            head.use_positions(positions.heads(i, 1))

    @property
    def last_weights(self) -> torch.Tensor | None:
        """The heads' kept attention weights stacked as (batch, num_heads, tokens, tokens)."""
        weights = [head.last_weights for head in self.heads]
        return None if any(w is None for w in weights) else torch.stack(weights, dim=1)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        return torch.cat([head(x, cache) for head in self.heads], dim=-1)


@register(
    "mha",
    section="3.6.2",
    summary="one module: project once, split into heads, merge, output projection",
    multi_head=True,
)
class MultiHeadAttention(AttentionBase):
    """3.6.2: one module for all heads. Project once to d_out, split d_out into num_heads × head_dim, attend
    per head in one batched matmul, merge the heads back and mix them with an output projection.

    (b, T, d_in) → q, k, v (b, T, d_out) → (b, heads, T, head_dim) → attend → (b, T, d_out) → out_proj.
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
    ):
        super().__init__(context_length, dropout, causal)
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(b, T, d_out) → (b, heads, T, head_dim): each head attends over its own slice of d_out."""
        b, num_tokens, _ = x.shape
        return x.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(b, heads, T, head_dim) → (b, T, d_out), heads side by side as MultiHeadAttentionWrapper does."""
        b, _, num_tokens, _ = x.shape
        return x.transpose(1, 2).reshape(b, num_tokens, self.num_heads * self.head_dim)

    def project_qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        self.check_length(x.shape[1])
        return (
            self.split_heads(self.W_query(x)),
            self.split_heads(self.W_key(x)),
            self.split_heads(self.W_value(x)),
        )

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        queries, keys, values = self.project_qkv(x)  # (b, heads, T, head_dim) each
        if cache is not None:
            keys, values = cache.extend(self, keys, values)
        context = self.attend(queries, keys, values, scale=self.head_dim**-0.5)
        return self.out_proj(self.merge_heads(context))

    def kernel_inputs(
        self, x: torch.Tensor, cache: KVCache | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys and values as a fused kernel (sdpa, flex) takes them: projected, the cached keys and
        values before the new ones, RoPE applied (which `attend` does on the explicit path)."""
        queries, keys, values = self.project_qkv(x)
        if cache is not None:
            keys, values = cache.extend(self, keys, values)
        queries, keys = self.positions.rotate(queries, keys)
        return queries, keys, values
