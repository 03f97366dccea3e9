"""Adding an attention variant takes its class with its record, and nothing else in the code: a variant
defined here, registered, is built by name, checked by the settings, estimated by the KV-memory formula and
trained through `training.run` (docs/adding-a-variant.md walks through the same steps)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from torch import nn

from attention_lab.attention import VARIANTS, AttentionBase, KVCache, Setting, build_attention, register
from attention_lab.errors import ConfigError
from attention_lab.model.kv_bytes import kv_cache_bytes
from attention_lab.settings import TrainSettings, checked
from attention_lab.training.checkpoints import model_from_checkpoint
from tests.helpers import WITH_CHECKPOINTS, compose_config, train


class AverageAttention(AttentionBase):
    """Every query weighs the values it may see alike: attention whose scores are all equal, over the
    `recent` latest tokens. (batch, tokens, d_in) → (batch, tokens, d_out)."""

    def __init__(self, d_in: int, d_out: int, context_length: int, dropout: float = 0.0, causal: bool = True,
                 qkv_bias: bool = False, recent: int = 1) -> None:  # fmt: skip
        super().__init__(context_length, dropout, causal)
        self.recent = recent
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)

    def hidden_mask(self, num_queries: int, num_keys: int) -> torch.Tensor | None:
        queries = torch.arange(num_keys - num_queries, num_keys, device=self.mask.device)[:, None]
        far = queries - torch.arange(num_keys, device=self.mask.device)[None, :] >= self.recent
        causal = super().hidden_mask(num_queries, num_keys)
        return far if causal is None else far | causal

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        self.check_length(x.shape[1])
        values = self.W_value(x)  # (b, T, d_out)
        if cache is not None:
            (values,) = cache.extend(self, values)
        no_scores = values.new_zeros(*values.shape[:-1], 1)  # every score 0: softmax weighs the keys alike
        return self.attend(no_scores[:, -x.shape[1] :], no_scores, values, scale=1.0)


@pytest.fixture
def average() -> Iterator[str]:
    register(
        "average",
        section="an exercise",
        summary="equal weights over the `recent` latest visible tokens",
        settings={"recent": Setting("the latest tokens a query averages over")},
        cached_per_token=lambda sizes: sizes.emb_dim,  # the values only
    )(AverageAttention)
    yield "average"
    del VARIANTS["average"]


def test_a_registered_variant_is_built_by_name_and_is_causal(average: str) -> None:
    module = build_attention(average, d_in=8, d_out=8, context_length=12, recent=3)
    x = torch.randn(1, 12, 8)
    later = x.clone()
    later[:, 7:] = torch.randn(1, 5, 8)
    torch.testing.assert_close(module(later)[:, :7], module(x)[:, :7])  # no position sees a later one
    with pytest.raises(ValueError, match="attention.recent=null is not allowed: it must be a whole number"):
        build_attention(average, d_in=8, d_out=8, context_length=12)


@pytest.mark.slow
def test_a_registered_variant_is_checked_estimated_and_trained_through_run(average: str, tmp_path: Path):
    overrides = [
        "attention.name=average",
        "+attention.recent=4",
        "trainer.limit_train_batches=1",
        "trainer.limit_val_batches=1",
        "callbacks.tensorboard_extras.attention_maps=true",
    ]
    with pytest.raises(ConfigError, match="attention.recent=0 is not allowed: it must be a whole number"):
        checked(TrainSettings, compose_config(*overrides[:1], "+attention.recent=0"))
    sizes = dict(n_layers=2, emb_dim=64, n_heads=4, context_length=10)
    assert kv_cache_bytes(average, **sizes, recent=4) == 2 * 10 * 64 * 4  # layers, tokens, values, bytes
    metrics = train(compose_config(*WITH_CHECKPOINTS, *overrides, log_dir=tmp_path / "logs"))
    model = model_from_checkpoint(next(Path(metrics["version_dir"]).glob("checkpoints/*.ckpt")))
    assert all(isinstance(block.att, AverageAttention) for block in model.trf_blocks)  # the variant trained
    assert math.isfinite(metrics["val_loss"])


def test_a_name_is_registered_once() -> None:
    with pytest.raises(ValueError, match="attention variant 'mha' is registered already"):
        register("mha", section="-", summary="-")(AverageAttention)
