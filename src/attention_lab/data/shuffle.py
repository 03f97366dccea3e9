"""`data.shuffle`: where each epoch's order of the training windows comes from.

`seeded` (the default) draws it from `EpochShuffleSampler`, a function of (data.seed, epoch) alone;
`global_rng` is the book's `DataLoader(shuffle=True)`, which draws it from torch's global RNG. Needs no
Lightning, so the settings checks read SHUFFLE_MODES before Lightning is imported.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Dataset, RandomSampler

SHUFFLE_MODES = {
    "seeded": "a fixed function of (data.seed, epoch), independent of everything else",
    "global_rng": "torch's global RNG, as the book's DataLoader(shuffle=True)",
}


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
