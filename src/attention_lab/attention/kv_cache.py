"""The KV cache of generation: what each attention layer remembers of the tokens it has already seen.

Generating token t+1 needs the keys and values of tokens 0..t, but those of 0..t-1 were computed at the
previous step. A `KVCache` keeps them, so each step projects only the newest token (one row instead of t),
and the attention scores become one query row against the cached keys.
"""

from __future__ import annotations

import torch
from torch import nn


class KVCache:
    """The cached tensors of one generation, one entry per attention module, and the tokens seen so far.

    Entries are (..., tokens, width) tensors concatenated along the tokens dimension: keys and values for
    most variants, the latent for `mla`. `length` is the number of tokens fed through the model, which is
    also the position of the next one. Make a new KVCache for every prompt: nothing carries over.
    """

    def __init__(self) -> None:
        self.length = 0
        self._entries: dict[nn.Module, tuple[torch.Tensor, ...]] = {}

    def clear(self) -> None:
        """Forget every token: the state of a new KVCache."""
        self.length = 0
        self._entries.clear()

    def extend(
        self, module: nn.Module, *new: torch.Tensor, keep: int | None = None
    ) -> tuple[torch.Tensor, ...]:
        """Append `new` (..., T_new, width) to `module`'s entry; return the whole (..., T_cached + T_new,
        width). With `keep`, only the last `keep` tokens stay cached (a sliding window): the returned
        tensors still hold every new token, which the queries of this chunk need."""
        old = self._entries.get(module)
        full = new if old is None else tuple(torch.cat([o, n], dim=-2) for o, n in zip(old, new, strict=True))
        self._entries[module] = full if keep is None else tuple(t[..., -keep:, :] for t in full)
        return full

    def held(self, module: nn.Module) -> tuple[torch.Tensor, ...]:
        """What `module` has cached: (..., tokens kept, width) tensors; empty before its first call."""
        return self._entries.get(module, ())

    def nbytes(self) -> int:
        """Bytes held by every entry together."""
        return sum(t.nelement() * t.element_size() for entry in self._entries.values() for t in entry)
