"""The data modules: shuffled training batches and ordered validation batches of (inputs, targets) pairs.

`TextDataModule` splits the text 90/10 by characters (as the book's chapter 5), tokenizes each part and cuts
it into sliding windows:

    text ──tokenizer──► ids ──SlidingWindowDataset(max_length, stride)──► x = ids[i:i+L], y = ids[i+1:i+L+1]

`RecallDataModule` (data/recall.py) generates associative-recall sequences instead; both batch through
`BatchedDataModule`, and `data_module(config)` builds the one of a data kind from its typed settings.
"""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from attention_lab.data.config import AnyData, TextData
from attention_lab.data.recall import recall_sequences
from attention_lab.data.shuffle import EpochShuffleSampler
from attention_lab.data.windows import SlidingWindowDataset
from attention_lab.errors import ConfigError, refusal


class BatchedDataModule(L.LightningDataModule):
    """Batches of a `train_set` and a `val_set` that `setup` makes: the training set in an order of
    `data.shuffle` (data/shuffle.py), the validation set in order."""

    def __init__(self, config: AnyData) -> None:
        super().__init__()
        self.config = config
        self.batch_size, self.num_workers, self.seed = config.batch_size, config.num_workers, config.seed
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None

    def _loader(self, dataset: Dataset, train: bool) -> DataLoader:
        if train and self.config.shuffle == "global_rng":
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

    def heatmap_example(self, context_length: int) -> tuple[torch.Tensor, list[str]]:
        """(1, T) ids of the data's heatmap text, T <= context_length, and a label per token."""
        tokenizer = self.config.make_tokenizer()
        ids = tokenizer.encode(self.config.heatmap)[:context_length]
        return ids[None], tokenizer.labels(ids)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, train=False)


class TextDataModule(BatchedDataModule):
    """Any UTF-8 text (The Verdict by default, conf/data/verdict.yaml), split by characters into train/val
    windows. `val_stride` (default: `stride`) steps the validation windows: 1 puts nearly every validation
    token at every position of a window, so that the loss by position compares contexts, not tokens."""

    def __init__(self, config: TextData) -> None:
        super().__init__(config)
        self.tokenizer = config.make_tokenizer()
        self.max_length, self.stride = config.max_length, config.stride
        self.val_stride = config.validation_stride

    def split_token_ids(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(n,) token ids of the first `train_ratio` of the characters and of the rest, each in the run's
        tokenizer (GPT-2's ids computed once per text and cached on disk, data/token_cache.py)."""
        text, path = self.config.read_text(), self.config.path
        if missing := self.tokenizer.unknown(text):
            reason = (f"it holds characters that data.characters lacks ({missing!r}): train on the text the "
                      "vocabulary was read from, or set data.characters=null to read it from this one")
            raise ConfigError(refusal("data.path", path, reason))
        split = int(self.config.train_ratio * len(text))
        return self.tokenizer.corpus_ids(text[:split]), self.tokenizer.corpus_ids(text[split:])

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train_ids, val_ids = self.split_token_ids()
        needed = self.max_length + 1  # one window plus the shifted target
        for split, ids in (("train", train_ids), ("validation", val_ids)):
            if len(ids) < needed:
                reason = (
                    f"a window and its target need {needed} tokens, and the {split} split of "
                    f"{self.config.path} has {len(ids)}: use a longer text, a smaller data.max_length, or "
                    "another data.train_ratio"
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

    def sequences(self, size: int, seed: int) -> TensorDataset:
        config = self.config
        made = recall_sequences(size, config.num_pairs, config.seq_len, config.vocab_size, seed)
        return TensorDataset(*made)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is None:
            config = self.config
            self.train_set = self.sequences(config.train_size, config.train_seed)
            self.val_set = self.sequences(config.val_size, config.val_seed)


def data_module(config: AnyData) -> BatchedDataModule:
    """The data module of `config`'s kind."""
    return {"text": TextDataModule, "recall": RecallDataModule}[config.kind](config)
