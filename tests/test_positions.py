"""Position encodings (model.pos_emb): RoPE's scores depend only on the distance between query and key,
ALiBi's slopes are the paper's, every variant stays causal with each encoding, a KV cache stays exact, and
a combination that cannot work is refused in one line."""

from __future__ import annotations

import pytest
import torch

from attention_lab.attention import VARIANTS, KVCache, build_attention
from attention_lab.attention.positions import ENCODINGS, Alibi, Rotary, alibi_slopes, positions_for
from attention_lab.errors import ConfigError
from attention_lab.model import AttentionConfig, GPTModel, ModelConfig
from attention_lab.model.generation import generate
from attention_lab.settings import TrainSettings, checked
from tests.helpers import compose_config, own_settings, runnable_here, variants_for_many_calls

D, CONTEXT, HEADS = 16, 16, 4
INSIDE = ("rope", "alibi")  # the encodings that act inside attention


def make(name: str, encoding: str, causal: bool = True) -> torch.nn.Module:
    torch.manual_seed(0)
    heads = HEADS if VARIANTS[name].multi_head else 1
    module = build_attention(name, d_in=D, d_out=D, context_length=CONTEXT, num_heads=heads, causal=causal,
                             **own_settings(name))  # fmt: skip
    module.use_positions(positions_for(encoding, heads, rope_base=10_000.0))
    return runnable_here(module, name).eval()


def test_rope_scores_depend_only_on_the_distance_between_query_and_key() -> None:
    rope, q, k = Rotary(), torch.randn(8), torch.randn(8)
    cos, sin = rope.cos_sin(40, 8, q)

    def score(query_at: int, key_at: int) -> torch.Tensor:
        return Rotary.turn(q, cos[query_at], sin[query_at]) @ Rotary.turn(k, cos[key_at], sin[key_at])

    for shift in (1, 7, 30):  # both positions moved alike: the same score
        torch.testing.assert_close(score(5 + shift, 2 + shift), score(5, 2))
    assert not torch.allclose(score(5, 2), score(5, 3))  # another distance: another score
    torch.testing.assert_close(score(0, 0), q @ k)  # position 0 is not turned


def test_rope_turns_the_two_halves_as_the_books_llama_code() -> None:
    x = torch.tensor([1.0, 0.0, 0.0, 0.0])  # dimension 0 and its partner, dimension 2
    cos, sin = Rotary(base=10_000.0).cos_sin(2, 4, x)
    turned = Rotary.turn(x, cos[1], sin[1])  # position 1: the first pair turns by 1 radian
    one = torch.tensor(1.0)
    torch.testing.assert_close(turned, torch.tensor([torch.cos(one), 0.0, torch.sin(one), 0.0]))


def test_alibi_slopes_are_the_papers_geometric_sequence() -> None:
    assert alibi_slopes(4) == [2**-2, 2**-4, 2**-6, 2**-8]
    assert alibi_slopes(8) == [2**-1, 2**-2, 2**-3, 2**-4, 2**-5, 2**-6, 2**-7, 2**-8]
    assert alibi_slopes(6) == [2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3]  # 4 heads', then every other of 8's


@pytest.mark.parametrize("causal", [True, False])
def test_alibi_biases_by_distance_symmetric_without_the_mask(causal: bool) -> None:
    bias = Alibi([0.5, 0.25]).bias(5, 5, causal, torch.zeros(()))  # (heads, T_q, T_k)
    assert bias[0, 4, 1] == -0.5 * 3 and bias[1, 4, 1] == -0.25 * 3
    assert bias[0, 1, 4] == (-0.5 * 3 if not causal else 0.5 * 3)  # a later key: hidden by the mask anyway
    newest = Alibi([0.5]).bias(2, 5, causal, torch.zeros(()))  # the last two queries of five keys
    torch.testing.assert_close(newest, bias[0, 3:, :])


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("name", VARIANTS)
def test_no_output_sees_a_later_input_with_any_encoding(name: str, encoding: str) -> None:
    if encoding not in VARIANTS[name].encodings:
        pytest.skip(f"{name} cannot apply {encoding}")
    module, x = make(name, encoding), torch.randn(2, CONTEXT, D)
    changed = x.clone()
    changed[:, 9:] = torch.randn(2, CONTEXT - 9, D)
    torch.testing.assert_close(module(changed)[:, :9], module(x)[:, :9])


@pytest.mark.parametrize("encoding", INSIDE)
@pytest.mark.parametrize("name", ["mha", "sdpa", "mha_wrapper", "gqa", "mla", "swa"])
def test_without_the_mask_an_encoded_variant_sees_later_inputs(name: str, encoding: str) -> None:
    module, x = make(name, encoding, causal=False), torch.randn(1, CONTEXT, D)
    changed = x.clone()
    changed[:, 9:] = torch.randn(1, CONTEXT - 9, D)
    assert not torch.allclose(module(changed)[:, :9], module(x)[:, :9])


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("encoding", INSIDE)
def test_sdpa_applies_the_encoding_as_mha_does(encoding: str, causal: bool) -> None:
    mha, sdpa = make("mha", encoding, causal), make("sdpa", encoding, causal)
    sdpa.load_state_dict(mha.state_dict())
    x = torch.randn(2, CONTEXT, D)
    torch.testing.assert_close(sdpa(x), mha(x), atol=1e-5, rtol=1e-5)


def test_the_wrapper_gives_each_head_its_own_alibi_slope() -> None:
    wrapper = make("mha_wrapper", "alibi")
    assert [head.positions.slopes for head in wrapper.heads] == [[s] for s in alibi_slopes(HEADS)]


MICRO = ModelConfig(name="micro", vocab_size=97, context_length=24, emb_dim=32, n_layers=2, n_heads=4,
                    drop_rate=0.0)  # fmt: skip


@pytest.mark.parametrize("encoding", INSIDE)
@pytest.mark.parametrize("name", variants_for_many_calls())
def test_a_kv_cache_gives_the_outputs_of_one_pass_with_each_encoding(name: str, encoding: str) -> None:
    """The outputs themselves, not only the tokens generation picks from them: a cached query must turn
    (RoPE) or be biased (ALiBi) at its own position, not at 0."""
    if encoding not in VARIANTS[name].encodings:
        pytest.skip(f"{name} cannot apply {encoding}")
    module, x, cache = make(name, encoding), torch.randn(2, 11, D), KVCache()
    chunks = [module(x[:, :5], cache)] + [module(x[:, t : t + 1], cache) for t in range(5, 11)]
    torch.testing.assert_close(torch.cat(chunks, dim=1), module(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("encoding", ("none", *INSIDE))
@pytest.mark.parametrize("name", variants_for_many_calls())
def test_cached_generation_gives_the_uncached_tokens_with_each_encoding(name: str, encoding: str) -> None:
    if encoding not in VARIANTS[name].encodings:
        pytest.skip(f"{name} cannot apply {encoding}")
    torch.manual_seed(0)
    config = MICRO.model_copy(update={"pos_emb": encoding})
    model = GPTModel(config, AttentionConfig(name=name, dropout=0.0, **own_settings(name))).eval()
    generator = torch.Generator().manual_seed(1)
    for length in (1, 30):  # 30 tokens: past the context of 24 from the start
        idx = torch.randint(0, MICRO.vocab_size, (1, length), generator=generator)
        cached, uncached = (generate(model, idx, 12, MICRO.context_length, use_cache=u) for u in (1, 0))
        assert torch.equal(cached, uncached)


def test_learned_positions_are_the_only_position_parameters() -> None:
    models = {e: GPTModel(MICRO.model_copy(update={"pos_emb": e}), AttentionConfig()) for e in ENCODINGS}
    parameters = {e: {name for name, _ in model.named_parameters()} for e, model in models.items()}
    assert parameters["learned"] - parameters["rope"] == {"pos_emb.weight"}
    assert parameters["none"] == parameters["rope"] == parameters["alibi"]


def test_rope_on_heads_of_odd_width_is_refused_in_one_line() -> None:
    message = r"^model.pos_emb=rope is not allowed with attention=mha of width 12: rope turns pairs"
    with pytest.raises(ConfigError, match=message + r" of dimensions, so a head's 3 dimensions"):
        checked(TrainSettings, compose_config("model.pos_emb=rope", "model.emb_dim=12"))
    checked(TrainSettings, compose_config("model.pos_emb=rope", "model.emb_dim=24"))  # heads of 6: even
    with pytest.raises(ValueError, match="model.pos_emb=rope is not allowed with attention=mha of width 12"):
        GPTModel(MICRO.model_copy(update={"pos_emb": "rope", "emb_dim": 12}), AttentionConfig())
