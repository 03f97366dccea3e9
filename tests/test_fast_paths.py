"""The faster implementations compute what the plain ones do: sdpa vs mha, compile, the tokenizer cache."""

from __future__ import annotations

import functools
import hashlib

import pytest
import torch
from omegaconf import OmegaConf

from attention_lab import tokenizer
from attention_lab.attention import build_attention
from attention_lab.config import CONF_DIR
from attention_lab.lit_module import LitGPT

SHAPE = dict(d_in=24, d_out=24, context_length=10, num_heads=4)

ADAMW = dict(OmegaConf.load(CONF_DIR / "optimizer" / "adamw.yaml"))


def twins(dropout: float) -> tuple[torch.nn.Module, torch.nn.Module]:
    mha = build_attention("mha", **SHAPE, dropout=dropout)
    sdpa = build_attention("sdpa", **SHAPE, dropout=dropout)
    sdpa.load_state_dict(mha.state_dict())
    return mha, sdpa


@pytest.mark.parametrize("train", [False, True])
def test_sdpa_equals_mha(train: bool) -> None:
    mha, sdpa = twins(dropout=0.0)
    mha.train(train), sdpa.train(train)
    x = torch.randn(3, 10, 24, requires_grad=True)
    out_mha = mha(x)
    (grad_mha,) = torch.autograd.grad(out_mha.square().sum(), x)
    out_sdpa = sdpa(x)
    (grad_sdpa,) = torch.autograd.grad(out_sdpa.square().sum(), x)
    torch.testing.assert_close(out_sdpa, out_mha, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad_sdpa, grad_mha, rtol=1e-5, atol=1e-5)
    for (name, p), q in zip(mha.named_parameters(), sdpa.parameters(), strict=True):
        assert q.shape == p.shape, name  # the same parameters: checkpoints load both ways


def test_sdpa_with_dropout_on_cpu_draws_the_same_masks_as_mha() -> None:
    """With dropout in training, sdpa takes mha's explicit path on CPU: the same RNG draws, same output."""
    mha, sdpa = twins(dropout=0.5)
    x = torch.randn(2, 10, 24)
    torch.manual_seed(7)
    expected = mha(x)
    torch.manual_seed(7)
    torch.testing.assert_close(sdpa(x), expected, rtol=1e-5, atol=1e-6)


def test_compile_switch_gives_the_eager_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    # Inductor's C++ compilation takes minutes on 2 cores; aot_eager traces the same graph through
    # dynamo and AOTAutograd and runs it with eager kernels, which is what this test needs to check.
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    model = dict(name="t", vocab_size=61, context_length=8, emb_dim=16, n_layers=1, n_heads=2, drop_rate=0.0)
    attention = dict(name="mha", causal=True, dropout=0.0, qkv_bias=False)
    inputs, targets = torch.randint(0, 61, (2, 8)), torch.randint(0, 61, (2, 8))
    losses = []
    for compile in (False, True):
        torch.manual_seed(0)
        losses.append(LitGPT(model, attention, ADAMW, compile=compile).loss(inputs, targets))
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-5, atol=1e-6)


def test_rank_cache_is_written_verified_and_rebuilt_when_altered(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = tokenizer.ranks_cache_path()
    assert not path.exists()
    built = tokenizer.mergeable_ranks()  # from the BPE files, then cached
    assert hashlib.sha256(path.read_bytes()).hexdigest() == tokenizer.RANKS_SHA256
    assert tokenizer.mergeable_ranks() == built  # from the cache
    path.write_bytes(path.read_bytes().replace(b" 256\n", b" 257\n", 1))  # a tampered rank
    assert tokenizer.mergeable_ranks() == built  # ignored and rebuilt
    assert hashlib.sha256(path.read_bytes()).hexdigest() == tokenizer.RANKS_SHA256


def test_cached_tokenizer_gives_tiktoken_gpt2_ids() -> None:
    # "Hello, world" and the book's chapter 2 sample in tiktoken's GPT-2 ids.
    encoding = tokenizer.gpt2_tokenizer()
    assert encoding.encode("Hello, world") == [15496, 11, 995]
    assert encoding.encode("<|endoftext|>", allowed_special="all") == [50256]
    assert encoding.n_vocab == 50257
