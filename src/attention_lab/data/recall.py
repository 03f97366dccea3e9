"""Multi-query associative recall (MQAR; Arora et al. 2023, "Zoology"): what attention is for, as a task.

A sequence lists `num_pairs` key–value pairs, then asks for every key again, in another order, with filler
between the questions; after each repeated key the model must produce that key's value:

    k₁ v₁ k₂ v₂ … k_N v_N  ·  · k₂ v₂ ·  k_N v_N  · · k₁ v₁ ·     (· filler, 0)
                                 ^^^^^ the input is k₂; the target, and the only position scored, is v₂

Keys are drawn without replacement from ids 1 … K, values with replacement from K+1 … 2K, where K =
(vocab_size − 1) // 2; 0 is the filler. The model reads `seq_len` tokens and predicts the next at every
position, as on text, but the loss and the accuracy are taken only where an answer is due: every other
target is NO_ANSWER, which F.cross_entropy ignores. Without the causal mask the answer is the next input:
in view, as the next token of a text is.

Attention answers by looking back at the key's first occurrence; a recurrent state must hold all N pairs;
a sliding window sees the pair only when it lies within the window. Needs no Lightning at import (the
settings checks read `recall_problem`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import torch

from attention_lab.data.tokenizers import as_list

NO_ANSWER = -100  # a target that is not scored: F.cross_entropy's default ignore_index
FILLER = 0


def key_count(vocab_size: int) -> int:
    """K: the ids 1 … K are keys, K+1 … 2K values (id 0 is the filler)."""
    return (vocab_size - 1) // 2


def recall_problem(num_pairs: int, seq_len: int, vocab_size: int) -> tuple[str, object, str] | None:
    """(setting, value, why not) for settings that cannot make a sequence, else None."""
    if seq_len < 4 * num_pairs:
        return "data.num_pairs", num_pairs, (
            f"the {num_pairs} pairs and their {num_pairs} questions need 4 × {num_pairs} = {4 * num_pairs} "
            f"tokens and data.seq_len={seq_len} holds {seq_len}: lower data.num_pairs or raise data.seq_len"
        )
    if num_pairs > key_count(vocab_size):
        return "data.num_pairs", num_pairs, (
            f"the keys of a sequence are distinct and data.vocab_size={vocab_size} has "
            f"{key_count(vocab_size)} (ids 1 … (vocab_size − 1) / 2): lower data.num_pairs or raise "
            "data.vocab_size"
        )
    return None


def recall_sequences(
    count: int, num_pairs: int, seq_len: int, vocab_size: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` sequences → (inputs, targets), each (count, seq_len) int64; the same arguments give the
    same tensors. targets[i, p] is the value of the key inputs[i, p] where p asks a question, else
    NO_ANSWER."""
    generator = torch.Generator().manual_seed(seed)
    n, keys_in_vocab = num_pairs, key_count(vocab_size)
    keys = torch.rand(count, keys_in_vocab, generator=generator).argsort(1)[:, :n] + 1  # distinct per row
    values = torch.randint(keys_in_vocab + 1, 2 * keys_in_vocab + 1, (count, n), generator=generator)
    sequence = torch.full((count, seq_len + 1), FILLER, dtype=torch.long)  # the last one is only a target
    sequence[:, 0 : 2 * n : 2], sequence[:, 1 : 2 * n : 2] = keys, values
    # The questions: n non-overlapping (key, value) slots among the `room` positions after the pairs, in
    # order of position; slot i starts at 2n + (the i-th of n sorted draws from room − n) + i.
    room = seq_len + 1 - 2 * n
    draws = torch.rand(count, room - n, generator=generator).argsort(1)[:, :n].sort(1).values
    starts = 2 * n + draws + torch.arange(n)
    asked = torch.rand(count, n, generator=generator).argsort(1)  # which pair each question asks for
    rows = torch.arange(count)[:, None]
    sequence[rows, starts] = keys.gather(1, asked)
    sequence[rows, starts + 1] = values.gather(1, asked)
    inputs, targets = sequence[:, :-1], torch.full((count, seq_len), NO_ANSWER, dtype=torch.long)
    targets[rows, starts] = values.gather(1, asked)
    return inputs.contiguous(), targets


@dataclass(frozen=True)
class RecallTokenizer:
    """A recall sequence as text: k<i> for a key, v<i> for a value, · for the filler, one word per token
    (`RecallTokenizer(33).decode(ids)` reads "k3 v5 k1 v2 · k1"): what the heatmaps and samples show."""

    vocab_size: int
    name: ClassVar[str] = "recall"

    def labels(self, ids: torch.Tensor | Sequence[int]) -> list[str]:
        keys = key_count(self.vocab_size)
        return ["·" if token == FILLER else f"k{token}" if token <= keys else f"v{token - keys}"
                for token in as_list(ids)]  # fmt: skip

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        return " ".join(self.labels(ids))

    @cached_property
    def ids(self) -> dict[str, int]:
        """Each word's id."""
        every = range(2 * key_count(self.vocab_size) + 1)
        return {label: token for token, label in enumerate(self.labels(every))}

    def unknown(self, text: str) -> str:
        return " ".join(dict.fromkeys(word for word in text.split() if word not in self.ids))

    def encode(self, text: str) -> torch.Tensor:
        """The ids of the words of `text`; a ValueError naming the words that are no tokens."""
        if missing := self.unknown(text):
            raise ValueError(f"the words {missing!r} are no tokens of recall (vocabulary {self.vocab_size})")
        ids = self.ids
        return torch.tensor([ids[word] for word in text.split()], dtype=torch.long)

    def corpus_ids(self, text: str) -> torch.Tensor:
        return self.encode(text)
