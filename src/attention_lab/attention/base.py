"""What every attention variant shares (the book's sections 3.5.1–3.5.2): the causal mask, dropout on the
attention weights, and scores → mask → softmax → dropout → weighted sum, with the position encoding the
model gives it (RoPE on queries and keys, ALiBi on the scores). A variant of your own subclasses
`AttentionBase` and calls `attend` (docs/adding-a-variant.md)."""

from __future__ import annotations

import torch
from torch import nn

from attention_lab.attention.positions import Positions


class AttentionBase(nn.Module):
    """The mask and dropout switches shared by every variant (sections 3.5.1–3.5.2).

    The causal mask is a (context_length, context_length) boolean buffer, True above the diagonal where a
    query would see a later key; it is not saved in checkpoints since it follows from context_length.
    Set `keep_weights = True` to keep the last attention weights in `last_weights` (for heatmaps).
    `positions` is the position encoding `attend` applies (none until the model gives one: `use_positions`).
    """

    def __init__(self, context_length: int, dropout: float = 0.0, causal: bool = True) -> None:
        super().__init__()
        self.context_length = context_length
        self.causal = causal
        self.dropout = nn.Dropout(dropout)
        mask = torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", mask, persistent=False)
        self.keep_weights = False
        self.last_weights: torch.Tensor | None = None
        self.positions = Positions()

    def use_positions(self, positions: Positions) -> None:
        """Attend with `positions` (attention_lab.attention.positions): RoPE, ALiBi or nothing."""
        self.positions = positions

    def check_length(self, num_tokens: int) -> None:
        if num_tokens > self.context_length:
            raise ValueError(
                f"{type(self).__name__} got {num_tokens} tokens, more than its context_length="
                f"{self.context_length}; crop inputs to at most {self.context_length} tokens."
            )

    def hidden_mask(self, num_queries: int, num_keys: int) -> torch.Tensor | None:
        """(num_queries, num_keys) booleans, True where a query must not see a key; None: all see all.

        The queries are the last num_queries of the num_keys positions (all of them without a KV cache;
        the newest ones with it), so their rows of the square mask are the last num_queries rows.
        """
        if not self.causal:
            return None
        return self.mask[num_keys - num_queries : num_keys, :num_keys]

    def attend(
        self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, scale: float
    ) -> torch.Tensor:
        """softmax(q·kᵀ·scale, masked) · v over the last two dims: (..., T_q, d) over (..., T_k, d) →
        (..., T_q, d_v). T_q = T_k except with a KV cache, where the keys also hold earlier tokens."""
        queries, keys = self.positions.rotate(queries, keys)  # RoPE; as they are otherwise
        scores = self.scores_of(queries, keys)  # (..., T_q, T_k): row = query, column = key
        hidden = self.hidden_mask(queries.shape[-2], keys.shape[-2])
        # In place, as the book's masked_fill_: the matmul's backward needs q and k, not its output.
        if hidden is not None:
            scores.masked_fill_(hidden, -torch.inf)
        if scale != 1.0:
            scores.mul_(scale)
        bias = self.positions.bias(queries.shape[-2], keys.shape[-2], self.causal, scores)
        if bias is not None:  # ALiBi: −slope · distance (a hidden score stays −inf)
            scores.add_(bias)
        weights = torch.softmax(scores, dim=-1)
        if self.keep_weights:
            self.last_weights = weights.detach()
        return self.weigh(self.dropout(weights), values)

    def scores_of(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """q·kᵀ: (..., T_q, d) and (..., T_k, d) → (..., T_q, T_k)."""
        return queries @ keys.transpose(-2, -1)

    def weigh(self, weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """The values weighted: (..., T_q, T_k) and (..., T_k, d_v) → (..., T_q, d_v)."""
        return weights @ values
