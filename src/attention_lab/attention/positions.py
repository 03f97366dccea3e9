"""Where each token is, as attention sees it (`model.pos_emb`). `learned` (the book's) and `none` add
nothing here: the GPT adds learned position embeddings to its input, and `none` has no position at all.
`rope` rotates queries and keys by their positions; `alibi` subtracts a per-head slope times the distance
from the scores. Both depend only on the distance between a query and a key, so a KV cache keeps them
exact, and both act inside `AttentionBase.attend`, which every variant calls: a variant never needs to know
which one is in use.

Queries and keys are (..., T_q, d) and (..., T_k, d); the queries are the last T_q of the T_k positions (all
of them without a KV cache, the newest with it).
"""

from __future__ import annotations

import math

import torch

ENCODINGS = ("learned", "none", "rope", "alibi")


class Positions:
    """No position inside attention (`learned` adds it to the input, `none` nowhere): nothing changes."""

    def rotate(self, queries: torch.Tensor, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return queries, keys

    def bias(self, num_queries: int, num_keys: int, causal: bool, like: torch.Tensor) -> torch.Tensor | None:
        """What to add to the (…, T_q, T_k) scores, on `like`'s device and dtype; None: nothing."""
        return None

    def heads(self, first: int, count: int) -> Positions:
        """The encoding of `count` heads from head `first` on (for a wrapper of separate heads)."""
        return self


class Rotary(Positions):
    """RoPE (Su et al. 2021), in the split-halves form of the book's Llama code: dimension i and i + d/2 of a
    query or key at position p turn together by the angle p · base^(-2i/d). A query at p and a key at p'
    then score by their distance p − p' alone."""

    def __init__(self, base: float = 10_000.0) -> None:
        self.base = base
        self.angles: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}  # (dim, device, dtype): the longest

    def cos_sin(self, tokens: int, dim: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(tokens, dim) cosines and sines of positions 0 … tokens − 1, each angle for both of its halves."""
        key = (dim, like.device, like.dtype)
        if key not in self.angles or len(self.angles[key][0]) < tokens:
            pairs = torch.arange(0, dim, 2, device=like.device, dtype=torch.float32)
            frequencies = self.base ** (-pairs / dim)  # (dim / 2,): one angle per pair of dimensions
            angles = torch.arange(tokens, device=like.device, dtype=torch.float32)[:, None] * frequencies
            angles = torch.cat([angles, angles], dim=-1)  # (tokens, dim)
            self.angles[key] = (angles.cos().to(like.dtype), angles.sin().to(like.dtype))
        cos, sin = self.angles[key]
        return cos[:tokens], sin[:tokens]

    @staticmethod
    def turn(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        return x * cos + torch.cat([-x[..., half:], x[..., :half]], dim=-1) * sin

    def rotate(self, queries: torch.Tensor, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        num_queries, num_keys = queries.shape[-2], keys.shape[-2]
        cos, sin = self.cos_sin(num_keys, keys.shape[-1], keys)
        newest = slice(num_keys - num_queries, num_keys)
        return self.turn(queries, cos[newest], sin[newest]), self.turn(keys, cos, sin)


def alibi_slopes(num_heads: int) -> list[float]:
    """The ALiBi paper's slopes: for n a power of two, the geometric sequence 2^(-8/n), 2^(-16/n), …; for
    other n, those of the power of two below n, then every other slope of the power of two above."""
    power = 2 ** math.floor(math.log2(num_heads))
    slopes = [2 ** (-8 * (i + 1) / power) for i in range(power)]
    return slopes + [2 ** (-8 * (i + 1) / (2 * power)) for i in range(0, 2 * power, 2)][: num_heads - power]


class Alibi(Positions):
    """ALiBi (Press et al. 2022): each head h subtracts slope_h · (i − j) from the score of query i and key j;
    without the causal mask the distance counts both ways, |i − j|. Bias (heads, T_q, T_k), or (T_q, T_k)
    for one head."""

    def __init__(self, slopes: list[float]) -> None:
        self.slopes = slopes
        self.biases: dict[tuple, torch.Tensor] = {}  # (causal, device, dtype): the square of the longest

    def bias(self, num_queries: int, num_keys: int, causal: bool, like: torch.Tensor) -> torch.Tensor:
        key = (causal, like.device, like.dtype)
        if key not in self.biases or self.biases[key].shape[-1] < num_keys:
            positions = torch.arange(num_keys, device=like.device)
            distance = positions[:, None] - positions[None, :]  # (T, T): > 0 where the key is earlier
            distance = distance if causal else distance.abs()
            slopes = torch.tensor(self.slopes, device=like.device)[:, None, None]
            self.biases[key] = (-slopes * distance).to(like.dtype)  # (heads, T, T)
        bias = self.biases[key][:, num_keys - num_queries : num_keys, :num_keys]
        return bias[0] if len(self.slopes) == 1 else bias

    def heads(self, first: int, count: int) -> Alibi:
        return Alibi(self.slopes[first : first + count])


def positions_for(encoding: str, num_heads: int, rope_base: float) -> Positions:
    """The encoding `model.pos_emb` names, for attention of `num_heads` heads."""
    if encoding == "rope":
        return Rotary(rope_base)
    if encoding == "alibi":
        return Alibi(alibi_slopes(num_heads))
    return Positions()


def rope_problem(encoding: str, head_dim: int) -> str | None:
    """Why `encoding` cannot work with heads of `head_dim` dimensions, or None: RoPE turns pairs."""
    if encoding == "rope" and head_dim % 2:
        return f"rope turns pairs of dimensions, so a head's {head_dim} dimensions must be an even number"
    return None
