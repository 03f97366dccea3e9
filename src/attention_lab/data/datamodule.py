"""The data modules: shuffled training batches and ordered validation batches of (inputs, targets) pairs.

`TextDataModule` splits the text 90/10 by characters (as the book's chapter 5), tokenizes each part and cuts
it into sliding windows:

    text ──tokenizer──► ids ──SlidingWindowDataset(max_length, stride)──► x = ids[i:i+L], y = ids[i+1:i+L+1]

`RecallDataModule` (data/recall.py) generates associative-recall sequences instead; both batch through
`BatchedDataModule`.
"""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from attention_lab.data.recall import NO_ANSWER, recall_sequences, token_label
from attention_lab.data.shuffle import EpochShuffleSampler
from attention_lab.data.text import BOOK_PROMPT, BOOK_SENTENCE, load_text
from attention_lab.data.token_cache import token_ids
from attention_lab.data.tokenizer import ids_to_text, text_to_ids
from attention_lab.data.windows import SlidingWindowDataset
from attention_lab.errors import ConfigError, refusal


class BatchedDataModule(L.LightningDataModule):
    """Batches of a `train_set` and a `val_set` that `setup` makes: the training set in an order of
    `shuffle` (data/shuffle.py), the validation set in order."""

    def __init__(self, name: str, batch_size: int, num_workers: int, seed: int, shuffle: str) -> None:
        super().__init__()
        self.name = name  # the data set: a run axis
        self.batch_size, self.num_workers, self.seed, self.shuffle = batch_size, num_workers, seed, shuffle
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None

    def _loader(self, dataset: Dataset, train: bool) -> DataLoader:
        if train and self.shuffle == "global_rng":
            # torch's own DataLoader(shuffle=True), as the book builds it: each epoch draws its base seed and
            # its order from the global RNG, between the dropout masks. Resuming stays exact, because the
            # checkpoints hold the global RNG state (callbacks.RandomStateInCheckpoint).
            order = {"shuffle": True}
        else:
            order = {
                "sampler": EpochShuffleSampler(dataset, self.seed) if train else None,
                # Worker seeds come from this generator, not from torch's global RNG, which dropout uses.
                "generator": torch.Generator().manual_seed(self.seed),
            }
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            drop_last=train,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            **order,
        )

    def sample_prompt(self) -> str | None:
        """The text a model of this data continues in TensorBoard's text samples; None: no samples."""
        raise NotImplementedError

    def heatmap_example(self, context_length: int) -> tuple[torch.Tensor, list[str]]:
        """(1, T) token ids the attention heatmaps show, T <= context_length, and a label per token."""
        raise NotImplementedError

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, train=False)


class TextDataModule(BatchedDataModule):
    """Any UTF-8 text (The Verdict by default, conf/data/verdict.yaml), split by characters into train/val
    windows. `val_stride` (default: `stride`) steps the validation windows: 1 puts nearly every validation
    token at every position of a window, so that the loss by position compares contexts, not tokens.
    `prompt` (default: the book's) is what TensorBoard's samples continue, `heatmap_text` (default: the
    book's chapter 3 sentence) what its attention heatmaps show."""

    def __init__(
        self,
        path: str,
        name: str = "text",
        url: str | None = None,
        sha256: str | None = None,
        max_length: int = 64,
        stride: int = 64,
        val_stride: int | None = None,
        batch_size: int = 8,
        train_ratio: float = 0.9,
        num_workers: int = 0,
        seed: int = 0,
        shuffle: str = "seeded",
        prompt: str | None = None,
        heatmap_text: str | None = None,
    ) -> None:
        super().__init__(name, batch_size, num_workers, seed, shuffle)
        self.path, self.url, self.sha256 = path, url, sha256
        self.prompt, self.heatmap_text = prompt or BOOK_PROMPT, heatmap_text or BOOK_SENTENCE
        self.max_length, self.stride, self.train_ratio = max_length, stride, train_ratio
        self.val_stride = stride if val_stride is None else val_stride

    def split_token_ids(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(n,) token ids of the first `train_ratio` of the characters and of the rest (`<|endoftext|>`
        allowed: a text of several documents joined by it, as in the book's section 2.4), each computed once
        per text and cached on disk (data/token_cache.py)."""
        text = load_text(self.path, self.url, self.sha256)
        split = int(self.train_ratio * len(text))
        return token_ids(text[:split]), token_ids(text[split:])

    def sample_prompt(self) -> str:
        return self.prompt

    def heatmap_example(self, context_length: int) -> tuple[torch.Tensor, list[str]]:
        """`heatmap_text`'s first `context_length` tokens, each labelled with its text."""
        ids = text_to_ids(self.heatmap_text)[:, :context_length]
        return ids, [ids_to_text(token) for token in ids[0]]

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train_ids, val_ids = self.split_token_ids()
        needed = self.max_length + 1  # one window plus the shifted target
        for split, ids in (("train", train_ids), ("validation", val_ids)):
            if len(ids) < needed:
                reason = (
                    f"a window and its target need {needed} tokens, and the {split} split of {self.path} has "
                    f"{len(ids)}: use a longer text, a smaller data.max_length, or another data.train_ratio"
                )
                raise ConfigError(refusal("data.max_length", self.max_length, reason))
        self.train_set = SlidingWindowDataset(train_ids, self.max_length, self.stride)
        self.val_set = SlidingWindowDataset(val_ids, self.max_length, self.val_stride)
        if len(self.train_set) < self.batch_size:
            reason = (
                f"the train split has {len(self.train_set)} windows, too few for one full batch: lower "
                "data.batch_size or data.stride"
            )
            raise ConfigError(refusal("data.batch_size", self.batch_size, reason))


class RecallDataModule(BatchedDataModule):
    """Associative recall (data/recall.py, conf/data/recall.yaml): `train_size` and `val_size` sequences of
    `num_pairs` key–value pairs and their questions, `seq_len` tokens each over `vocab_size` ids, generated
    from `train_seed` and `val_seed` (two seeds: the validation sequences are not training ones)."""

    def __init__(
        self,
        num_pairs: int = 8,
        seq_len: int = 64,
        vocab_size: int = 129,
        train_size: int = 20_000,
        val_size: int = 1_000,
        train_seed: int = 0,
        val_seed: int = 1,
        name: str = "recall",
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        shuffle: str = "seeded",
    ) -> None:
        super().__init__(name, batch_size, num_workers, seed, shuffle)
        self.num_pairs, self.seq_len, self.vocab_size = num_pairs, seq_len, vocab_size
        self.sizes, self.seeds = (train_size, val_size), (train_seed, val_seed)

    def sequences(self, split: int) -> TensorDataset:
        size, seed = self.sizes[split], self.seeds[split]
        return TensorDataset(*recall_sequences(size, self.num_pairs, self.seq_len, self.vocab_size, seed))

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            self.train_set, self.val_set = self.sequences(0), self.sequences(1)

    def sample_prompt(self) -> None:
        return None  # a recall model's output is its accuracy, not a text

    def heatmap_example(self, context_length: int) -> tuple[torch.Tensor, list[str]]:
        """The first validation sequence, cut after its first two questions (1, T), and its tokens' labels."""
        self.setup()
        inputs, targets = self.val_set[0]
        asked = (targets != NO_ANSWER).nonzero().flatten()
        end = min(int(asked[min(1, len(asked) - 1)]) + 1, context_length)
        ids = inputs[:end]
        return ids[None], [token_label(int(token), self.vocab_size) for token in ids]
