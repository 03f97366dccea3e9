"""The book's sliding windows (section 2.6): next-token pairs cut from one token stream."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset


class SlidingWindowDataset(Dataset):
    """Next-token pairs cut from one token stream (the book's `GPTDatasetV1`, section 2.6).

    Window k starts at token k*stride: input = ids[i:i+max_length], target = the same window shifted by
    one. As in the book, windows start at every i in range(0, len(ids) - max_length, stride).
    Each item is a pair of (max_length,) int64 tensors; they are views, not copies.
    """

    def __init__(self, token_ids: list[int] | torch.Tensor, max_length: int, stride: int) -> None:
        self.ids = torch.as_tensor(token_ids, dtype=torch.long)
        self.max_length = max_length
        self.starts = range(0, len(self.ids) - max_length, stride)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        i = self.starts[index]
        return self.ids[i : i + self.max_length], self.ids[i + 1 : i + self.max_length + 1]
