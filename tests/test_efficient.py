"""The book's efficient multi-head attention notebook in the lab: every implementation equals `mha` with
`mha`'s weights mapped onto it (outputs and gradients, mask on and off), and the leak probe refuses to train
a "causal" variant whose mask lets a position see later inputs."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch

from attention_lab.attention import VARIANTS, build_attention, register
from attention_lab.attention.chapter3 import MultiHeadAttention
from attention_lab.attention.positions import positions_for
from attention_lab.errors import CausalityError, ConfigError
from attention_lab.model import AttentionConfig, GPTModel, ModelConfig
from attention_lab.model.leak_probe import first_leak
from tests.helpers import own_settings, train

EFFICIENT = ("combined_qkv", "einsum", "sdpa_mask", "torch_mha", "flex")
D, CONTEXT, HEADS = 24, 16, 4


def pair(name: str, causal: bool, qkv_bias: bool, encoding: str = "none", heads: int = HEADS):
    """`mha` and the implementation `name` with `mha`'s weights mapped onto it, both with `encoding`."""
    torch.manual_seed(0)
    kwargs = dict(d_in=D, d_out=D, context_length=CONTEXT, num_heads=heads, causal=causal, qkv_bias=qkv_bias)
    mha = build_attention("mha", **kwargs)
    other = build_attention(name, **kwargs, **own_settings(name))
    other.load_state_dict(type(other).from_mha(dict(mha.named_parameters())), strict=True)
    for module in (mha, other):
        module.use_positions(positions_for(encoding, heads, rope_base=10_000.0))
    return mha, other


# Each implementation with no positions (with and without q/k/v biases), and with each encoding applied
# inside attention that it takes (learned positions are added to the embeddings, outside attention).
CASES = [(name, "none", bias, HEADS) for name in EFFICIENT for bias in (False, True)]
CASES += [
    (name, encoding, False, HEADS)
    for name in EFFICIENT
    for encoding in ("rope", "alibi")
    if encoding in VARIANTS[name].encodings
]
CASES += [(name, "alibi", False, 1) for name in EFFICIENT]  # one head: the bias of a single slope


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize(("name", "encoding", "qkv_bias", "heads"), CASES)
def test_each_implementation_gives_mhas_outputs_and_gradients(name, encoding, qkv_bias, heads, causal):
    mha, other = pair(name, causal, qkv_bias, encoding, heads)
    x = torch.randn(2, CONTEXT, D)
    with torch.no_grad():
        torch.testing.assert_close(other(x), mha(x), atol=1e-5, rtol=1e-4)
    if (problem := VARIANTS[name].cannot_train_on("cpu")) is not None:
        pytest.skip(f"forward only: {problem}")
    grad = torch.randn(2, CONTEXT, D)
    inputs = [x.clone().requires_grad_() for _ in range(2)]
    mha(inputs[0]).backward(grad)
    other(inputs[1]).backward(grad)
    torch.testing.assert_close(inputs[1].grad, inputs[0].grad, atol=1e-5, rtol=1e-4)
    expected = type(other).from_mha({n: p.grad for n, p in mha.named_parameters()})
    got = dict(other.named_parameters())
    for parameter, gradient in expected.items():
        if not parameter.startswith("attention.out_proj"):  # torch_mha's own projection: the identity
            torch.testing.assert_close(got[parameter].grad, gradient, atol=1e-5, rtol=1e-4, msg=parameter)


def test_torch_mha_gives_the_same_outputs_with_and_without_weights() -> None:
    _, other = pair("torch_mha", True, False)
    x = torch.randn(2, CONTEXT, D)
    without = other(x)
    other.need_weights = True
    torch.testing.assert_close(other(x), without, atol=1e-6, rtol=1e-5)


def test_the_explicit_mask_means_attend_where_it_is_true() -> None:
    sdpa_mask = build_attention("sdpa_mask", d_in=D, d_out=D, context_length=CONTEXT, num_heads=HEADS)
    assert not sdpa_mask.use_is_causal  # the mask goes as a tensor: ~hidden_mask, True where a key is seen
    x = torch.randn(1, CONTEXT, D)
    changed = x.clone()
    changed[:, 5:] = torch.randn(1, CONTEXT - 5, D)
    torch.testing.assert_close(sdpa_mask(changed)[:, :5], sdpa_mask(x)[:, :5])


# --- the leak probe ------------------------------------------------------------------------------------
MICRO = ModelConfig(name="micro", vocab_size=97, context_length=16, emb_dim=16, n_layers=1, n_heads=2)


@pytest.mark.parametrize("name", VARIANTS)
def test_no_registered_variant_leaks_with_the_mask(name: str) -> None:
    model = GPTModel(MICRO, AttentionConfig(name=name, **own_settings(name)))
    assert first_leak(model) is None
    open_ = GPTModel(MICRO, AttentionConfig(name=name, causal=False, **own_settings(name)))
    if VARIANTS[name].mixes_positions:
        assert first_leak(open_) is not None  # without the mask the probe does see the leak


class InvertedMaskAttention(MultiHeadAttention):
    """`mha` with its mask the wrong way round, the notebook's bug: the mask of the later keys given where
    True means attend (as scaled_dot_product_attention reads it), so every position sees only later ones,
    and the last none at all."""

    def hidden_mask(self, num_queries: int, num_keys: int) -> torch.Tensor | None:
        hidden = super().hidden_mask(num_queries, num_keys)
        return None if hidden is None else ~hidden


def query_positions(num_queries: int, num_keys: int) -> torch.Tensor:
    return torch.arange(num_keys - num_queries, num_keys)[:, None]  # (T_q, 1): the newest positions


class BlockwiseAttention(MultiHeadAttention):
    """`mha` whose mask lets a query see its whole block of 4 positions, the later ones in it too (a block
    mask built bidirectional inside its blocks)."""

    def hidden_mask(self, num_queries: int, num_keys: int) -> torch.Tensor | None:
        hidden = super().hidden_mask(num_queries, num_keys)
        same_block = query_positions(num_queries, num_keys) // 4 == torch.arange(num_keys) // 4
        return None if hidden is None else hidden & ~same_block


class LateLeakAttention(MultiHeadAttention):
    """`mha` whose queries in the later half of the window also see the next key."""

    def hidden_mask(self, num_queries: int, num_keys: int) -> torch.Tensor | None:
        hidden = super().hidden_mask(num_queries, num_keys)
        i, j = query_positions(num_queries, num_keys), torch.arange(num_keys)
        return None if hidden is None else hidden & ~((i >= self.context_length // 2) & (j == i + 1))


class SoftMaskAttention(MultiHeadAttention):
    """`mha` whose later keys get their scaled score lowered by 10 instead of set to −inf: each keeps a
    weight of about e^−10 of a seen one, a door that training can open."""

    def hidden_mask(self, num_queries: int, num_keys: int) -> torch.Tensor | None:
        return None

    def scores_of(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        scores = super().scores_of(queries, keys)
        later = super().hidden_mask(*scores.shape[-2:])
        return scores - 10 * self.head_dim**0.5 * later  # `attend` then scales by head_dim^−0.5


PLANTED = {"inverted": InvertedMaskAttention, "blockwise": BlockwiseAttention, "late": LateLeakAttention,
           "soft": SoftMaskAttention}  # fmt: skip


@pytest.fixture
def plant() -> Iterator[Callable[[str], str]]:
    """Registers a variant of PLANTED by its name, as a reader's own variant is, for one test."""
    planted = []

    def plant_(name: str) -> str:
        summary = PLANTED[name].__doc__.split(":")[0]
        register(name, section="a bug", summary=summary, multi_head=True)(PLANTED[name])
        planted.append(name)
        return name

    yield plant_
    for name in planted:
        del VARIANTS[name]


@pytest.mark.parametrize(("name", "first"), [("inverted", 0), ("blockwise", 8), ("late", 8), ("soft", 0)])
def test_the_probe_finds_each_planted_leak_at_its_first_position(plant, name: str, first: int) -> None:
    torch.manual_seed(0)
    model = GPTModel(MICRO, AttentionConfig(name=plant(name)))  # the probe splits 16 positions at 9 and 15
    assert first_leak(model) == first


def test_a_causal_run_of_an_inverted_mask_is_refused_before_training(plant, fast_config, tmp_path):
    inverted = plant("inverted")
    message = r"^attention=inverted with attention.causal=true lets position 0 see later inputs"
    with pytest.raises(CausalityError, match=message):
        train(fast_config(f"attention.name={inverted}"))
    assert not list((tmp_path / "logs").rglob("events.out.tfevents.*"))  # refused before anything was logged


def test_flex_is_refused_on_a_device_where_it_cannot_train(fast_config) -> None:
    if VARIANTS["flex"].cannot_train_on("cpu") is None:
        pytest.skip("this torch's FlexAttention trains on the CPU")
    message = r"^attention.name=flex is not allowed with the cpu this run trains on: torch .*'s FlexAttention"
    with pytest.raises(ConfigError, match=message):
        train(fast_config("attention=flex"))
