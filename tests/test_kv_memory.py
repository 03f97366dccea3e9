"""KV-cache bytes: the book's memory estimators' numbers, and what generation's KVCache really holds."""

import subprocess
import sys

import pytest
import torch

from attention_lab.attention import VARIANTS, KVCache
from attention_lab.kv_memory import describe
from attention_lab.model import AttentionConfig, GPTModel, ModelConfig
from attention_lab.model.kv_bytes import kv_cache_bytes
from tests.helpers import ROOT, compose_config, own_settings, runnable_here

# The book's ch04/04_gqa and ch04/06_swa example: a 4096-wide, 32-head, 32-layer model at 32,768 tokens, bf16.
BOOK_GQA = ["model.emb_dim=4096", "model.n_heads=32", "model.n_layers=32", "context_length=32768",
            "dtype=bfloat16", "batch_size=1"]  # fmt: skip


def report(*overrides: str) -> str:
    return describe(compose_config(*overrides, config_name="kv_memory"))


def test_the_books_gqa_example():
    # memory_estimator_gqa.py --n_kv_groups 4 means 4 query heads per key/value head: 32 / 4 = 8 kv heads,
    # which is num_kv_groups=8 here (and in the book's GQA model code).
    assert "KV cache: 17.18 GB (17,179,869,184 bytes)" in report(*BOOK_GQA)
    gqa = report(*BOOK_GQA, "attention=gqa", "attention.num_kv_groups=8")
    assert "KV cache: 4.29 GB (4,294,967,296 bytes)" in gqa


def test_the_books_swa_example():
    # memory_estimator_swa.py --sliding_window_size 1024: every layer sliding (its default --swa_ratio 1:0)
    # 0.54 GB; with --swa_ratio 5:1 (27 sliding layers, 5 full ones) 3.14 GB.
    swa = report(*BOOK_GQA, "attention=swa", "attention.window=1024")
    assert "KV cache: 536.87 MB (536,870,912 bytes; 0.54 GB)" in swa
    sizes = dict(emb_dim=4096, n_heads=32, context_length=32768, bytes_per_value=2)
    mixed = kv_cache_bytes("swa", n_layers=27, window=1024, **sizes) + kv_cache_bytes(
        "mha", n_layers=5, **sizes
    )
    assert f"{mixed / 1e9:.2f}" == "3.14"


def test_the_books_mla_example():
    # memory_estimator_mla.py: 48 layers, context 8192, latent 1024, bf16 → MLA 0.81 GB. Its 24 heads do not
    # divide emb_dim 2048 (no such model can be built here); the latent's size does not depend on them.
    mla = ["model.emb_dim=2048", "model.n_heads=16", "model.n_layers=48", "context_length=8192",
           "dtype=bfloat16", "attention=mla", "attention.kv_latent_dim=1024"]  # fmt: skip
    assert "KV cache: 805.31 MB (805,306,368 bytes; 0.81 GB)" in report(*mla)


MICRO = ModelConfig(name="micro", vocab_size=50, context_length=12, emb_dim=16, n_layers=2, n_heads=4)


@pytest.mark.parametrize("name", VARIANTS)
def test_the_estimate_is_what_a_full_kv_cache_holds(name):
    model = runnable_here(GPTModel(MICRO, AttentionConfig(name=name, **own_settings(name))), name).eval()
    cache = KVCache()
    model(torch.zeros(3, MICRO.context_length, dtype=torch.long), cache)  # batch 3, the whole context
    sizes = dict(n_layers=MICRO.n_layers, emb_dim=MICRO.emb_dim, n_heads=MICRO.n_heads)
    expected = kv_cache_bytes(name, **sizes, context_length=MICRO.context_length, batch_size=3,
                              **own_settings(name))  # fmt: skip
    assert cache.nbytes() == expected


@pytest.mark.slow
def test_the_command_line_prints_total_and_per_token_bytes():
    result = subprocess.run(
        [sys.executable, "-m", "attention_lab.kv_memory", *BOOK_GQA, "attention=mqa"],
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    # one key/value head of 128 values, keys and values, 32 layers, 2 bytes: 16,384 bytes per token
    assert "KV cache: 536.87 MB (536,870,912 bytes; 0.54 GB), 16,384 bytes per cached token" in result.stdout
