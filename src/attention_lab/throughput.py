"""Tokens per second and model FLOPs utilisation while training (conf/callbacks/default.yaml: `throughput:`).

Lightning's ThroughputMonitor does the timing and writes train/device/items_per_sec (tokens/s),
train/device/flops_per_sec and, where the peak is known, train/device/mfu to TensorBoard; TokenThroughput
tells it what a batch holds and what it costs, and shows tokens/s and MFU in the progress bar.

FLOPs of a batch of b×T tokens (Kaplan et al. 2020, as in nanoGPT's estimate_mfu): per token, 2·N for the
matmuls of the N weights of the Linear layers (output head included, embeddings excluded) and 4·L·T·d for
the attention scores and their weighting, forward; a training step is three times that (forward and
backward), a validation batch once. The peak: Lightning's table for known GPUs; on a CPU, which Lightning
has no figure for, a float32 matmul timed at setup (`peak_flops: measure`).
"""

from __future__ import annotations

import time
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ThroughputMonitor

PROGRESS_BAR_TAGS = {"train/device/items_per_sec": "tok/s", "train/device/mfu": "mfu"}


def windows_in_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> int:
    return batch[0].size(0)  # inputs: (b, T)


def tokens_in_batch(batch: tuple[torch.Tensor, torch.Tensor]) -> int:
    return batch[0].numel()


def measured_matmul_flops(size: int = 1024, repeats: int = 5) -> float:
    """FLOP/s of the fastest of `repeats` float32 (size×size) matmuls on this CPU with torch's threads."""
    a = b = torch.full((size, size), 0.5)  # not randn: the global RNG stays as the run's seed left it
    a @ b  # warm-up: thread pool and caches
    fastest = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        fastest = min(fastest, time.perf_counter() - start)
    return 2 * size**3 / fastest


class TokenThroughput(ThroughputMonitor):
    """ThroughputMonitor for next-token batches (inputs, targets) of shape (b, T)."""

    def __init__(self, window_size: int = 4, peak_flops: float | str | None = "measure") -> None:
        super().__init__(batch_size_fn=windows_in_batch, length_fn=tokens_in_batch, window_size=window_size)
        self.peak_flops = peak_flops
        self.matmul_weights = 0  # N
        self.layers_times_width = 0  # L·d

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        self.matmul_weights = sum(
            m.weight.numel() for m in pl_module.modules() if isinstance(m, torch.nn.Linear)
        )
        model = pl_module.hparams.get("model", {})
        self.layers_times_width = model.get("n_layers", 0) * model.get("emb_dim", 0)
        if self.available_flops is None and self.peak_flops is not None and trainer.is_global_zero:
            peak = measured_matmul_flops() if self.peak_flops == "measure" else float(self.peak_flops)
            self.available_flops = peak
            for throughput in self._throughputs.values():
                throughput.available_flops = peak  # per device, as Lightning's own figures

    def forward_flops(self, batch: tuple[torch.Tensor, torch.Tensor]) -> int:
        length = batch[0].size(-1)
        per_token = 2 * self.matmul_weights + 4 * self.layers_times_width * length
        return per_token * tokens_in_batch(batch)

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, *_: Any
    ) -> None:
        pl_module.flops_per_batch = 3 * self.forward_flops(batch)

    def on_validation_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, *_: Any, **__: Any
    ) -> None:
        pl_module.flops_per_batch = self.forward_flops(batch)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, *args: Any
    ) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, *args)
        for tag, name in PROGRESS_BAR_TAGS.items():  # the window's latest figures, once it is full
            if tag in trainer.logged_metrics:
                value = float(trainer.logged_metrics[tag])
                pl_module.log(name, value, prog_bar=True, logger=False, rank_zero_only=True)
