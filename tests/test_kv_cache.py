"""Generation with a KV cache: the same tokens as without, for every variant, prompt after prompt."""

import pytest
import torch

from attention_lab.model import AttentionConfig, GPTModel, ModelConfig
from attention_lab.model.generation import generate
from tests.helpers import own_settings, variants_for_many_calls

# A micro model whose context (24) overflows within 60 new tokens (twice, from the 1-token prompt), so
# re-prefilling is exercised too.
MICRO = ModelConfig(name="micro", vocab_size=97, context_length=24, emb_dim=32, n_layers=2, n_heads=4,
                    drop_rate=0.0)  # fmt: skip


@pytest.fixture(autouse=True)
def one_thread():
    """The micro model's ops are too small to gain from threads; on a busy machine they lose a lot."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def micro_model(name: str, causal: bool = True) -> GPTModel:
    torch.manual_seed(0)
    attention = AttentionConfig(name=name, causal=causal, dropout=0.0, **own_settings(name))
    return GPTModel(MICRO, attention).eval()


def prompts() -> list[torch.Tensor]:
    """Three prompts in a row: one token, a short one, and one longer than the context."""
    generator = torch.Generator().manual_seed(1)
    return [torch.randint(0, MICRO.vocab_size, (1, n), generator=generator) for n in (1, 7, 30)]


def tokens(model: GPTModel, idx: torch.Tensor, use_cache: bool, **kwargs) -> torch.Tensor:
    return generate(model, idx, max_new_tokens=60, context_length=MICRO.context_length, use_cache=use_cache,
                    **kwargs)  # fmt: skip


@pytest.mark.parametrize("name", variants_for_many_calls())
def test_cached_greedy_generation_gives_the_uncached_tokens(name):
    model = micro_model(name)
    for idx in prompts():  # on the same model, one after another
        assert torch.equal(tokens(model, idx, use_cache=True), tokens(model, idx, use_cache=False))


def test_cached_sampling_gives_the_uncached_tokens_for_the_same_seed():
    model = micro_model("mha")
    idx = prompts()[1]
    torch.manual_seed(3)
    cached = tokens(model, idx, use_cache=True, temperature=1.5, top_k=20)
    torch.manual_seed(3)
    assert torch.equal(cached, tokens(model, idx, use_cache=False, temperature=1.5, top_k=20))


@pytest.mark.parametrize("name", ["mha", "swa", "mla"])
def test_each_call_starts_from_an_empty_cache(name):
    model = micro_model(name)
    first, second = prompts()[1], prompts()[0]
    alone = tokens(model, second, use_cache=True)
    tokens(model, first, use_cache=True)  # a longer prompt that overflows the context before
    assert torch.equal(tokens(model, second, use_cache=True), alone)


@pytest.mark.parametrize("name", ["mha", "mha_wrapper", "swa"])
def test_a_model_trained_without_the_mask_generates_as_without_a_cache(name):
    model = micro_model(name, causal=False)
    assert not model.kv_cache_exact  # earlier positions see later ones: no exact cache
    for idx in prompts():
        assert torch.equal(tokens(model, idx, use_cache=True), tokens(model, idx, use_cache=False))


@pytest.mark.parametrize("use_cache", [True, False])
def test_the_output_head_sees_only_the_last_position(use_cache):
    model = micro_model("mha")
    rows = []
    model.out_head.register_forward_hook(lambda module, inputs, output: rows.append(inputs[0].shape))
    generate(model, prompts()[1], max_new_tokens=5, context_length=MICRO.context_length, use_cache=use_cache)
    assert rows == [torch.Size([1, MICRO.emb_dim])] * 5  # (batch, emb): one position per step


def test_a_batch_of_prompts_is_cached_row_by_row():
    model = micro_model("gqa")
    idx = torch.randint(0, MICRO.vocab_size, (3, 6), generator=torch.Generator().manual_seed(2))
    assert torch.equal(tokens(model, idx, use_cache=True), tokens(model, idx, use_cache=False))
