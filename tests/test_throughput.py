"""Tokens/s and MFU reach TensorBoard through Lightning's ThroughputMonitor (callbacks.throughput)."""

from __future__ import annotations

from pathlib import Path

import torch

from attention_lab.training.throughput import TokenThroughput
from tests.helpers import MICRO, compose_config, scalars, train


def test_tokens_per_second_and_mfu_are_in_the_event_files(tmp_path: Path) -> None:
    cfg = compose_config(*MICRO, "trainer.limit_train_batches=3", "callbacks.throughput.window_size=2",
                         log_dir=tmp_path)  # fmt: skip
    logged = scalars(train(cfg)["version_dir"], "train/device/")
    assert "train/device/items_per_sec" in logged and "train/device/mfu" in logged
    assert all(value > 0 for value in logged["train/device/items_per_sec"].values())


def test_a_training_step_counts_three_times_the_forward_flops() -> None:
    monitor = TokenThroughput()
    monitor.matmul_weights, monitor.layers_times_width = 1000, 8
    batch = (torch.zeros(2, 16, dtype=torch.long), torch.zeros(2, 16, dtype=torch.long))
    assert monitor.forward_flops(batch) == (2 * 1000 + 4 * 8 * 16) * 32
