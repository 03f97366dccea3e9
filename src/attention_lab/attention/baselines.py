"""What came before attention (the book's section 3.1), in attention's place, so that the loss attention
removes can be measured: `none` mixes nothing across positions, `gru` is a recurrent layer.

    none  each output from its own token alone: out_t = W_value · x_t (a bigram model, whatever the window)
    gru   nn.GRU: everything read so far squeezed into one state of d_out numbers, carried left to right;
          without the mask a second GRU reads right to left (a bidirectional RNN sees the answer too)

Both take `causal` and `dropout` like every variant. Neither has scores, so neither applies RoPE or ALiBi.
"""

from __future__ import annotations

import torch
from torch import nn

from attention_lab.attention.base import AttentionBase
from attention_lab.attention.kv_cache import KVCache
from attention_lab.attention.registry import Sizes, nothing, register


@register(
    "none",
    section="3.1: no attention",
    summary="no mixing across positions: each output is a projection of its own token (a bigram model)",
    cached_per_token=nothing,
    mixes_positions=False,
    encodings=("learned", "none"),
)
class NoMixing(AttentionBase):
    """Attention whose weights are the identity: query t puts all its weight on itself, so the output at t
    is W_value · x_t and the block sees no context. (b, T, d_in) → (b, T, d_out). Dropout acts on that
    one weight per query as on any attention weights (0 or 1/(1 − p) while training); nothing is cached,
    and the mask changes nothing."""

    def __init__(self, d_in: int, d_out: int, context_length: int, dropout: float = 0.0, causal: bool = True,
                 qkv_bias: bool = False) -> None:  # fmt: skip
        super().__init__(context_length, dropout, causal)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        self.check_length(x.shape[1])
        b, num_tokens, _ = x.shape
        if self.keep_weights:  # (b, T, T): each query on itself
            self.last_weights = torch.eye(num_tokens, device=x.device).expand(b, -1, -1)
        weight = self.dropout(x.new_ones(b, num_tokens, 1))  # each query's one weight, on its own token
        return weight * self.W_value(x)


def one_state(sizes: Sizes) -> int:
    return sizes.emb_dim  # the left-to-right GRU's state after the last token read


@register(
    "gru",
    section="3.1: a recurrent layer",
    summary="`nn.GRU` in place of attention: one state of d_out numbers carried along the sequence",
    qkv_bias=False,
    cached_per_token=nothing,
    cached_state=one_state,
    has_weights=False,
    encodings=("learned", "none"),
)
class RecurrentLayer(AttentionBase):
    """Section 3.1's recurrent network in attention's place: a GRU reads the window left to right and its
    output at t is its state after token t, all it keeps of tokens 0..t. Without the mask a second GRU
    reads right to left and the two states, side by side, are projected back to d_out: position t then
    sees every token of the window. (b, T, d_in) → (b, T, d_out), dropout on the GRU outputs. With a
    KV cache the state is the cache: d_out numbers per layer and sequence, however long the context."""

    def __init__(self, d_in: int, d_out: int, context_length: int, dropout: float = 0.0,
                 causal: bool = True) -> None:  # fmt: skip
        super().__init__(context_length, dropout, causal)
        self.forward_gru = nn.GRU(d_in, d_out, batch_first=True)
        self.backward_gru = None if causal else nn.GRU(d_in, d_out, batch_first=True)
        self.proj = nn.Linear(d_out * (1 if causal else 2), d_out)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        self.check_length(x.shape[1])
        state = None if cache is None else cache.state(self)  # (1, b, d_out) after the tokens seen so far
        read, state = self.forward_gru(x, state)  # (b, T, d_out): the state after each token
        if cache is not None:
            cache.keep_state(self, state)
        if self.backward_gru is not None:
            read = torch.cat([read, self.read_backward(x)], dim=-1)
        return self.proj(self.dropout(read))

    def read_backward(self, x: torch.Tensor) -> torch.Tensor:
        """(b, T, d_in) → (b, T, d_out): right to left, the state at t having read tokens T−1 down to t.
        With the mask forced on (`val/loss_causal`), as in generation, no later token exists: it reads x_t
        alone."""
        if self.causal:
            b, num_tokens, d_in = x.shape
            alone, _ = self.backward_gru(x.reshape(b * num_tokens, 1, d_in))
            return alone.view(b, num_tokens, -1)
        read, _ = self.backward_gru(x.flip(1))
        return read.flip(1)
