"""The book's efficient-attention notebook's last implementation: `mha` on FlexAttention
(torch.nn.attention.flex_attention), where the installed torch can train it on the device in use."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import torch

from attention_lab.attention.chapter3 import MultiHeadAttention
from attention_lab.attention.efficient import Parameters
from attention_lab.attention.kv_cache import KVCache
from attention_lab.attention.registry import register

if TYPE_CHECKING:
    from torch.nn.attention.flex_attention import BlockMask

@functools.cache
def flex_cannot_train_on(device: str) -> str | None:
    """Why the installed torch's FlexAttention cannot train on `device` (a device type), or None: a
    backward pass through one tiny call tells."""
    try:
        from torch.nn.attention.flex_attention import flex_attention
    except ImportError:
        return f"torch {torch.__version__} has no FlexAttention (torch.nn.attention.flex_attention, 2.5 on)"
    try:
        query = torch.zeros(1, 1, 1, 8, device=device, requires_grad=True)
        flex_attention(query, query, query).sum().backward()
    except (NotImplementedError, RuntimeError) as err:
        reason = str(err).splitlines()[0]
        return f"torch {torch.__version__}'s FlexAttention cannot train on {device} ({reason})"
    return None


@functools.lru_cache(maxsize=64)
def causal_block_mask(num_queries: int, num_keys: int, device: torch.device) -> BlockMask:
    """FlexAttention's causal block mask for the newest `num_queries` of `num_keys` positions: query q is
    position q + (num_keys − num_queries). Built once per shape (generation asks for few)."""
    from torch.nn.attention.flex_attention import create_block_mask

    offset = num_keys - num_queries
    sees = lambda b, h, q, k: q + offset >= k  # noqa: E731
    return create_block_mask(sees, None, None, num_queries, num_keys, device=device)


@register(
    "flex",
    section="bonus: FlexAttention",
    summary="`mha` on `torch.nn.attention.flex_attention` with a causal block mask",
    multi_head=True,
    cannot_train_on=flex_cannot_train_on,
)
class FlexAttention(MultiHeadAttention):
    """`mha`'s parameters, its attention computed by flex_attention: the mask a block mask of
    `q_idx + offset >= kv_idx` (the queries are the newest positions), ALiBi a score_mod. FlexAttention
    has no dropout on the weights: with dropout while training, `mha`'s explicit path computes it. The call
    is not compiled (torch.compile would fuse it into one kernel), so it computes the full score matrix, as
    torch's warning says."""

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        from torch.nn.attention.flex_attention import flex_attention

        if self.keep_weights or (self.training and self.dropout.p > 0):
            return super().forward(x, cache)
        queries, keys, values = self.kernel_inputs(x, cache)
        num_queries, num_keys = queries.shape[-2], keys.shape[-2]
        # One newest query (a generation step) sees every key: no mask to build.
        masked = self.causal and num_queries > 1
        block_mask = causal_block_mask(num_queries, num_keys, x.device) if masked else None
        bias = self.positions.bias(num_queries, num_keys, self.causal, queries)
        if bias is not None:
            bias = bias.view(-1, num_queries, num_keys)  # (heads, T_q, T_k), one head included
        score_mod = None if bias is None else (lambda score, b, h, q, k: score + bias[h, q, k])
        context = flex_attention(queries, keys, values, score_mod=score_mod, block_mask=block_mask)
        return self.out_proj(self.merge_heads(context))

    @staticmethod
    def from_mha(mha: Parameters) -> Parameters:
        return dict(mha)
