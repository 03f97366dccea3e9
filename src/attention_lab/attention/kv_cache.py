"""The KV cache of generation: what each attention layer remembers of the tokens it has already seen.

Generating token t+1 needs the keys and values of tokens 0..t, but those of 0..t-1 were computed at the
previous step. A `KVCache` keeps them, so each step projects only the newest token (one row instead of t),
and the attention scores become one query row against the cached keys. A recurrent layer (`gru`) keeps
its state instead: one vector per sequence, whatever the number of tokens read.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class _Entry:
    """One module's buffers, (..., capacity, width) each, of which the first `filled` tokens are written;
    with `keep` (a sliding window) only the last `keep` of those count as held."""

    buffers: tuple[torch.Tensor, ...]
    filled: int
    keep: int | None

    def held(self) -> tuple[torch.Tensor, ...]:
        start = 0 if self.keep is None else max(0, self.filled - self.keep)
        return tuple(b[..., start : self.filled, :] for b in self.buffers)


class KVCache:
    """The cached tensors of one generation, one entry per attention module, and the tokens seen so far.

    Entries are (..., tokens, width) tensors: keys and values for most variants, the latent for `mla`, the
    inputs for `torch_mha`; a recurrent layer (`gru`) keeps a state instead (`state`, `keep_state`).
    They live in buffers allocated once for `capacity` tokens (e.g. the context length) and written in
    place, as the book's optimized cache does: appending a token copies one row, where concatenating would
    copy everything cached so far at every step. A buffer that fills up doubles. `length` is the number of
    tokens fed through the model, which is also the position of the next one. Make a new KVCache for every
    prompt (or `clear()` it): nothing carries over.
    """

    def __init__(self, capacity: int = 0) -> None:
        self.length = 0
        self.capacity = capacity
        self._entries: dict[nn.Module, _Entry] = {}
        self._states: dict[nn.Module, torch.Tensor] = {}

    def clear(self) -> None:
        """Forget every token: the state of a new KVCache (the buffers are kept for reuse)."""
        self.length = 0
        for entry in self._entries.values():
            entry.filled = 0
        self._states.clear()

    def state(self, module: nn.Module) -> torch.Tensor | None:
        """A recurrent module's state after the tokens seen so far; None before its first call."""
        return self._states.get(module)

    def keep_state(self, module: nn.Module, state: torch.Tensor) -> None:
        """Replace `module`'s state (fixed size, e.g. (layers, batch, hidden) of an nn.GRU)."""
        self._states[module] = state

    def extend(
        self, module: nn.Module, *new: torch.Tensor, keep: int | None = None
    ) -> tuple[torch.Tensor, ...]:
        """Append `new` (..., T_new, width) to `module`'s entry; return the whole (..., T_cached + T_new,
        width). With `keep`, only the last `keep` tokens stay cached (a sliding window): the returned
        tensors still hold every new token, which the queries of this chunk need."""
        entry = self._entries.get(module)
        if entry is None or entry.buffers[0].shape[:-2] != new[0].shape[:-2]:  # first call, or a new batch
            entry = self._entries[module] = _Entry(self._allocate(new, 0), 0, keep)
        elif entry.keep is not None and entry.filled > entry.keep:
            # Drop the tokens that left the window (deferred to now: the caller of the previous extend was
            # still reading them).
            start = entry.filled - entry.keep
            for b in entry.buffers:
                b[..., : entry.keep, :] = b[..., start : entry.filled, :].clone()
            entry.filled = entry.keep
        added = new[0].shape[-2]
        if entry.filled + added > entry.buffers[0].shape[-2]:
            entry.buffers = self._grow(entry, new, entry.filled + added)
        for b, n in zip(entry.buffers, new, strict=True):
            b[..., entry.filled : entry.filled + added, :] = n
        entry.filled += added
        return tuple(b[..., : entry.filled, :] for b in entry.buffers)

    def _allocate(self, like: tuple[torch.Tensor, ...], tokens: int) -> tuple[torch.Tensor, ...]:
        tokens = max(tokens, self.capacity, like[0].shape[-2])
        return tuple(t.new_empty(*t.shape[:-2], tokens, t.shape[-1]) for t in like)

    def _grow(self, entry: _Entry, like: tuple[torch.Tensor, ...], needed: int) -> tuple[torch.Tensor, ...]:
        grown = self._allocate(like, max(needed, 2 * entry.buffers[0].shape[-2]))
        for g, b in zip(grown, entry.buffers, strict=True):
            g[..., : entry.filled, :] = b[..., : entry.filled, :]
        return grown

    def held(self, module: nn.Module) -> tuple[torch.Tensor, ...]:
        """What `module` has cached: (..., tokens kept, width) tensors; empty before its first call."""
        entry = self._entries.get(module)
        return () if entry is None else entry.held()

    def nbytes(self) -> int:
        """Bytes of the tokens held by every entry together (not the unused room of the buffers), and of the
        recurrent states."""
        held = [t for entry in self._entries.values() for t in entry.held()] + list(self._states.values())
        return sum(t.nelement() * t.element_size() for t in held)
