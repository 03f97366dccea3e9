"""Tokens per second and model FLOPs utilisation while training (conf/callbacks/default.yaml: `throughput:`).

Lightning's ThroughputMonitor does the timing and writes train/device/items_per_sec (tokens/s),
train/device/flops_per_sec and, where it knows the device's peak, train/device/mfu to TensorBoard;
TokenThroughput tells it what a batch holds and what it costs, logs train/device/mfu itself on devices
whose peak Lightning does not know, and shows tokens/s and MFU in the progress bar.

FLOPs of a batch of b×T tokens (Kaplan et al. 2020, as in nanoGPT's estimate_mfu): per token, 2·N for the
matmuls of the N weights of the Linear layers (output head included, embeddings excluded) and 4·L·T·d for
the attention scores and their weighting, forward; a training step is three times that (forward and
backward), a validation batch once. The peak: Lightning's table for known GPUs; on a CPU, which Lightning
has no figure for, a float32 matmul timed at setup (`peak_flops: measure`).
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

import lightning as L
import torch
from lightning.pytorch.callbacks import ThroughputMonitor
from pydantic import Field

from attention_lab import tags

PROGRESS_BAR_TAGS = {tags.TOKENS_PER_SEC: "tok/s", tags.MFU: "mfu"}


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

    def __init__(
        self,
        window_size: Annotated[int, Field(ge=1, description="optimizer steps averaged per reading")] = 4,
        peak_flops: Annotated[
            Annotated[float, Field(gt=0)] | Literal["measure"] | None,
            Field(description="the device's FLOP/s for MFU: a number, measure (time a matmul) or null"),
        ] = "measure",
    ) -> None:
        super().__init__(batch_size_fn=windows_in_batch, length_fn=tokens_in_batch, window_size=window_size)
        self.peak_flops = peak_flops
        self.own_peak: float | None = None  # the peak of a device Lightning has no figure for
        self.matmul_weights = 0  # N
        self.layers_times_width = 0  # L·d

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        self.matmul_weights = sum(
            m.weight.numel() for m in pl_module.modules() if isinstance(m, torch.nn.Linear)
        )
        sizes = pl_module.model.config  # LitGPT's ModelConfig
        self.layers_times_width = sizes.n_layers * sizes.emb_dim
        if self.available_flops is None and self.peak_flops is not None and trainer.is_global_zero:
            measure = self.peak_flops == "measure"
            self.own_peak = measured_matmul_flops() if measure else float(self.peak_flops)

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
        flops = trainer.logged_metrics.get(tags.FLOPS_PER_SEC)
        if self.own_peak is not None and flops is not None:  # per device, as Lightning's own figures
            pl_module.log(tags.MFU, float(flops) / self.own_peak, rank_zero_only=True)
        for tag, name in PROGRESS_BAR_TAGS.items():  # the window's latest figures, once it is full
            if tag in trainer.logged_metrics:
                value = float(trainer.logged_metrics[tag])
                pl_module.log(name, value, prog_bar=True, logger=False, rank_zero_only=True)
