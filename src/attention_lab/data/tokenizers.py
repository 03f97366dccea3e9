"""The two ways a run turns text into token ids (`data.tokenizer`), behind one interface.

`gpt2`: GPT-2's byte-pair encoding (the book's chapter 2; tokenizer.py builds it offline), 50,257 ids; a
corpus's ids are cached on disk (token_cache.py). `char`: one id per character, the vocabulary being the
characters of the text in code-point order (nanoGPT's shakespeare_char): 65 ids for Tiny Shakespeare.

A character vocabulary is part of the run's settings (`data.characters`, filled in from the text when the
settings are checked), so the run's config.yaml and its checkpoints hold it: generation, the TensorBoard
samples, the heatmap labels and the report decode with the characters the model was trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar, Protocol

import torch

from attention_lab.data.token_cache import token_ids
from attention_lab.data.tokenizer import END_OF_TEXT, VOCAB_SIZE, gpt2_tokenizer

TOKENIZERS = ("gpt2", "char")  # the choices of data.tokenizer


class Tokenizer(Protocol):
    """What a model's token ids mean."""

    name: str  # data.tokenizer
    vocab_size: int

    def unknown(self, text: str) -> str:
        """The characters of `text` it has no id for, each once ("" when it can encode it all)."""

    def encode(self, text: str) -> torch.Tensor:
        """(n,) int64 ids of `text`; a ValueError naming the characters it has no id for."""

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        """The text of ids of any shape, read in order."""

    def corpus_ids(self, text: str) -> torch.Tensor:
        """`encode` for a training text: the same ids, computed once where that is slow."""

    def labels(self, ids: torch.Tensor | Sequence[int]) -> list[str]:
        """One label per token, as the heatmaps show them."""


def as_list(ids: torch.Tensor | Sequence[int]) -> list[int]:
    return ids.flatten().tolist() if isinstance(ids, torch.Tensor) else list(ids)


@dataclass(frozen=True)
class GPT2Tokenizer:
    """GPT-2's BPE, `<|endoftext|>` allowed (a text of several documents joined by it, section 2.4)."""

    name: ClassVar[str] = "gpt2"
    vocab_size: ClassVar[int] = VOCAB_SIZE

    def unknown(self, text: str) -> str:
        return ""  # bytes: every text has ids

    def encode(self, text: str) -> torch.Tensor:
        return torch.tensor(gpt2_tokenizer().encode(text, allowed_special={END_OF_TEXT}), dtype=torch.long)

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        return gpt2_tokenizer().decode(as_list(ids))

    def corpus_ids(self, text: str) -> torch.Tensor:
        return token_ids(text)

    def labels(self, ids: torch.Tensor | Sequence[int]) -> list[str]:
        return [self.decode([i]) for i in as_list(ids)]


def code_points(text: str) -> torch.Tensor:
    """(n,) int64 Unicode code points of `text`."""
    if not text:
        return torch.empty(0, dtype=torch.long)
    return torch.frombuffer(bytearray(text.encode("utf-32-le")), dtype=torch.int32).long()


@dataclass(frozen=True)
class CharTokenizer:
    """Id i is `characters[i]`; `characters` are distinct, in code-point order (CharTokenizer.of(text))."""

    characters: str
    name: ClassVar[str] = "char"

    @classmethod
    def of(cls, text: str) -> CharTokenizer:
        """The characters of `text`, each once, in code-point order."""
        return cls("".join(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.characters)

    @cached_property
    def points(self) -> torch.Tensor:
        return code_points(self.characters)

    def unknown(self, text: str) -> str:
        return "".join(sorted(set(text) - set(self.characters)))

    def encode(self, text: str) -> torch.Tensor:
        points = code_points(text)
        ids = torch.searchsorted(self.points, points).clamp_(max=max(self.vocab_size - 1, 0))
        if self.vocab_size == 0 or not torch.equal(self.points[ids], points):
            raise ValueError(f"the characters {self.unknown(text)!r} are not among its {self.vocab_size}")
        return ids

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        return "".join(self.characters[i] for i in as_list(ids))

    def corpus_ids(self, text: str) -> torch.Tensor:
        return self.encode(text)  # a lookup: 1 M characters take milliseconds

    def labels(self, ids: torch.Tensor | Sequence[int]) -> list[str]:
        """Each character, a line break as ⏎ and a space as ␣ (else invisible under a heatmap)."""
        return [self.characters[i].replace("\n", "⏎").replace(" ", "␣") for i in as_list(ids)]


def make_tokenizer(name: str, characters: str | None = None) -> Tokenizer:
    """The tokenizer `data.tokenizer=<name>` names (char: over `characters`)."""
    return CharTokenizer(characters or "") if name == "char" else GPT2Tokenizer()

