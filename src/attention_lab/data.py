"""Chapter 2's data pipeline: text → GPT-2 token ids → sliding windows of (input, target) pairs.

    text ──tokenizer──► ids ──SlidingWindowDataset(max_length, stride)──► x = ids[i:i+L], y = ids[i+1:i+L+1]

`TextDataModule` splits the text 90/10 by characters (as the book's chapter 5), tokenizes each part
and serves shuffled training batches and ordered validation batches.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

from attention_lab.errors import ConfigError
from attention_lab.tokenizer import gpt2_tokenizer


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def text_path_problem(path: str | Path) -> str | None:
    """Why `path` cannot be the training text, or None: a regular file, or a path that does not exist yet
    (the text is downloaded there). Whether the file can be read and decoded is found out by reading it."""
    path = Path(path).expanduser()
    if path.is_dir():
        return (
            "is a directory: it must be a UTF-8 text file, e.g. "
            f"data.path={path / 'the-verdict.txt'} (downloaded there when missing)"
        )
    if path.exists() and not path.is_file():
        return "is not a regular file (a device, pipe or socket): it must be a UTF-8 text file"
    return None


def _download(url: str, sha256: str | None, path: Path) -> str | None:
    """Fetch `url` into `path`, which must not exist yet, and return why it failed, or None on success.

    The bytes are hash-checked, written to a temporary file beside `path` and linked to `path` only when
    complete: `path` never holds half a text, and a file that appeared there meanwhile is never replaced.
    """
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            data = response.read()
    except OSError as err:  # URLError, timeouts and refused connections are all OSErrors
        return f"downloading {url} failed ({err})"
    if sha256 is not None and sha256_of(data) != sha256:
        return f"the file downloaded from {url} has sha256 {sha256_of(data)}, expected {sha256}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".download", dir=path.parent)
    except OSError as err:
        return f"its directory cannot be written ({err.strerror})"
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.link(temporary, path)  # fails, instead of overwriting, when `path` exists by now
    except FileExistsError:
        return f"a file appeared at {path} during the download; it was left as it is"
    except OSError as err:
        return f"writing the download failed ({err.strerror})"
    finally:
        Path(temporary).unlink(missing_ok=True)
    return None


def load_text(path: str | Path, url: str | None = None, sha256: str | None = None) -> str:
    """Read a UTF-8 text; when it is missing and a `url` is given, download it (checking `sha256`) first.

    Raises ConfigError naming `data.path`, its value and the way out when the text cannot be had.
    """
    path = Path(path).expanduser()
    problem = text_path_problem(path)
    if problem is not None:
        raise ConfigError(f"data.path={path} {problem}")
    if not path.exists():
        reason = "no URL to download it from is configured" if url is None else _download(url, sha256, path)
        if reason is not None:
            raise ConfigError(
                f"data.path={path} does not exist and {reason}. Copy The Verdict there "
                f"(e.g. `cp ../shared/data/the-verdict.txt {path}`), or train on any UTF-8 text with "
                "`data.path=/path/to/text.txt data.sha256=null`."
            )
    try:
        raw = path.read_bytes()
    except OSError as err:  # PermissionError, EIO, ...
        raise ConfigError(
            f"data.path={path} cannot be read ({err.strerror or err}): it must be a UTF-8 text file this "
            "user may read (check its permissions with `ls -l`)"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"data.path={path} is not UTF-8 text (byte {err.start} cannot be decoded): it must be a UTF-8 "
            "text file (convert it with e.g. `iconv -f latin1 -t utf-8`)"
        ) from None
    if not text.strip():
        raise ConfigError(f"data.path={path} is empty: it must be a UTF-8 text with some words in it")
    return text


class SlidingWindowDataset(Dataset):
    """Next-token pairs cut from one token stream (the book's `GPTDatasetV1`, section 2.6).

    Window k starts at token k*stride: input = ids[i:i+max_length], target = the same window shifted by
    one. As in the book, windows start at every i in range(0, len(ids) - max_length, stride).
    Each item is a pair of (max_length,) int64 tensors; they are views, not copies.
    """

    def __init__(self, token_ids: list[int] | torch.Tensor, max_length: int, stride: int) -> None:
        if max_length < 1 or stride < 1:
            raise ConfigError(f"max_length={max_length} and stride={stride} must both be >= 1.")
        self.ids = torch.as_tensor(token_ids, dtype=torch.long)
        self.max_length = max_length
        self.starts = range(0, len(self.ids) - max_length, stride)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        i = self.starts[index]
        return self.ids[i : i + self.max_length], self.ids[i + 1 : i + self.max_length + 1]


class EpochShuffleSampler(RandomSampler):
    """Shuffles a dataset in an order fixed by (seed, epoch), so a resumed run sees the same batches.

    torch's RandomSampler draws each epoch's order from the global RNG, so the order shifts whenever
    anything else draws a number more or fewer before it; here the order is a function of the epoch number,
    which Lightning passes in through `set_epoch` (restored from the checkpoint on resume). Being a
    RandomSampler, it is what Lightning swaps for a DistributedSampler (seeded the same way) under DDP, and
    for a sequential one with `overfit_batches`.
    """

    def __init__(self, dataset: Dataset, seed: int) -> None:
        super().__init__(dataset)
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(hash((self.seed, self.epoch)))  # no seed+epoch collisions
        yield from torch.randperm(len(self.data_source), generator=generator).tolist()


# data.shuffle: where each epoch's order of the training windows comes from.
SHUFFLE_MODES = {
    "seeded": "a fixed function of (data.seed, epoch), independent of everything else",
    "global_rng": "torch's global RNG, as the book's DataLoader(shuffle=True)",
}


def check_shuffle(shuffle: object) -> None:
    if not isinstance(shuffle, str) or shuffle not in SHUFFLE_MODES:
        modes = "; ".join(f"{name}: {meaning}" for name, meaning in SHUFFLE_MODES.items())
        raise ConfigError(
            f"data.shuffle={shuffle!r} is unknown; choose one of {', '.join(SHUFFLE_MODES)} ({modes})"
        )


class TextDataModule(L.LightningDataModule):
    """Any UTF-8 text (The Verdict by default, conf/data/verdict.yaml), split by characters into train/val
    windows."""

    def __init__(
        self,
        path: str,
        url: str | None = None,
        sha256: str | None = None,
        max_length: int = 64,
        stride: int = 64,
        batch_size: int = 8,
        train_ratio: float = 0.9,
        num_workers: int = 0,
        seed: int = 0,
        shuffle: str = "seeded",
    ) -> None:
        super().__init__()
        check_shuffle(shuffle)
        self.path, self.url, self.sha256 = path, url, sha256
        self.max_length, self.stride, self.batch_size = max_length, stride, batch_size
        self.train_ratio, self.num_workers, self.seed = train_ratio, num_workers, seed
        self.shuffle = shuffle
        self.train_set: SlidingWindowDataset | None = None
        self.val_set: SlidingWindowDataset | None = None

    def split_token_ids(self) -> tuple[list[int], list[int]]:
        """Token ids of the first `train_ratio` of the characters and of the rest."""
        text = load_text(self.path, self.url, self.sha256)
        split = int(self.train_ratio * len(text))
        tokenizer = gpt2_tokenizer()
        return tokenizer.encode(text[:split]), tokenizer.encode(text[split:])

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        train_ids, val_ids = self.split_token_ids()
        needed = self.max_length + 1  # one window plus the shifted target
        for split, ids in (("train", train_ids), ("validation", val_ids)):
            if len(ids) < needed:
                raise ConfigError(
                    f"The {split} split of {self.path} has {len(ids)} tokens, but data.max_length="
                    f"{self.max_length} needs at least {needed} per split. Use a longer text, a smaller "
                    f"data.max_length, or move data.train_ratio={self.train_ratio}."
                )
        self.train_set = SlidingWindowDataset(train_ids, self.max_length, self.stride)
        self.val_set = SlidingWindowDataset(val_ids, self.max_length, self.stride)
        if len(self.train_set) < self.batch_size:
            raise ConfigError(
                f"The train split has {len(self.train_set)} windows, fewer than data.batch_size="
                f"{self.batch_size}, so no full batch can be formed; lower data.batch_size or data.stride."
            )

    def _loader(self, dataset: Dataset, train: bool) -> DataLoader:
        if train and self.shuffle == "global_rng":
            # torch's own DataLoader(shuffle=True), as the book builds it: each epoch draws its base seed and
            # its order from the global RNG, between the dropout masks. Resuming stays exact, because the
            # checkpoints hold the global RNG state (callbacks.RNGStateCheckpoint).
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

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, train=False)
