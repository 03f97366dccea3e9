"""Each attention variant: shapes, causality, dropout, the equivalences between them, the chapter's numbers,
and the KV cache."""

import pytest
import torch

from attention_lab.attention import (
    VARIANTS,
    CausalAttention,
    GroupedQueryAttention,
    KVCache,
    MultiHeadAttention,
    MultiHeadAttentionWrapper,
    SDPAttention,
    SelfAttentionV1,
    SelfAttentionV2,
    SimpleSelfAttention,
    SlidingWindowAttention,
    build_attention,
)
from tests.helpers import own_settings, runnable_here

D, CONTEXT, HEADS = 12, 16, 4


def make(name: str, *, causal: bool = True, dropout: float = 0.0) -> torch.nn.Module:
    torch.manual_seed(0)
    heads = HEADS if VARIANTS[name].multi_head else 1
    module = build_attention(name, d_in=D, d_out=D, context_length=CONTEXT, num_heads=heads, dropout=dropout,
                             causal=causal, **own_settings(name))  # fmt: skip
    return runnable_here(module, name)


CHAPTER = ["simple", "self_v1", "self_v2", "causal", "mha_wrapper", "mha"]  # sections 3.3 to 3.6.2


def test_the_chapters_variants_are_listed_in_the_chapters_order():
    """Tables, sweeps and the report list the variants in registry order: the chapter's as it builds them."""
    assert [name for name in VARIANTS if name in CHAPTER] == CHAPTER


def test_unknown_variant_lists_the_choices():
    with pytest.raises(ValueError, match="choose one of simple, self_v1, .*, mla, none, gru$"):
        build_attention("flash", d_in=4, d_out=4, context_length=4)


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("batch,tokens", [(1, 1), (1, CONTEXT), (4, 7)])
def test_shapes(name, batch, tokens):
    out = make(name)(torch.randn(batch, tokens, D))
    assert out.shape == (batch, tokens, D)


@pytest.mark.parametrize("name", VARIANTS)
def test_inputs_longer_than_the_context_are_refused(name):
    with pytest.raises(ValueError, match=f"context_length={CONTEXT}"):
        make(name)(torch.randn(1, CONTEXT + 1, D))


@pytest.mark.parametrize("name", VARIANTS)
def test_causal_outputs_ignore_later_positions(name):
    module = make(name, causal=True, dropout=0.5).eval()
    x = torch.randn(2, 10, D)
    changed = x.clone()
    changed[:, 6:] = torch.randn(2, 4, D)  # positions > 5 only
    out, out_changed = module(x), module(changed)
    assert torch.equal(out[:, :6], out_changed[:, :6])
    assert not torch.allclose(out[:, 6:], out_changed[:, 6:])


@pytest.mark.parametrize("name", [name for name, record in VARIANTS.items() if record.mixes_positions])
def test_without_the_mask_earlier_outputs_see_later_positions(name):
    module = make(name, causal=False).eval()
    x = torch.randn(2, 10, D)
    changed = x.clone()
    changed[:, 6:] = torch.randn(2, 4, D)
    assert not torch.allclose(module(x)[:, :6], module(changed)[:, :6])


@pytest.mark.parametrize("name", VARIANTS)
def test_dropout_only_in_training(name):
    x = torch.randn(2, 8, D)
    module = make(name, dropout=0.5)
    module.eval()
    assert torch.equal(module(x), module(x))
    module.train()
    assert not torch.allclose(module(x), module(x))
    no_dropout = make(name, dropout=0.0).train()
    assert torch.equal(no_dropout(x), no_dropout(x))


@pytest.mark.parametrize("causal", [True, False])
def test_self_v2_with_v1_weights_equals_v1(causal):
    torch.manual_seed(1)
    v1 = SelfAttentionV1(D, 5, CONTEXT, causal=causal)
    v2 = SelfAttentionV2(D, 5, CONTEXT, causal=causal)
    with torch.no_grad():  # nn.Linear stores W transposed
        v2.W_query.weight.copy_(v1.W_query.T)
        v2.W_key.weight.copy_(v1.W_key.T)
        v2.W_value.weight.copy_(v1.W_value.T)
    x = torch.randn(3, 9, D)
    torch.testing.assert_close(v2(x), v1(x))


def test_wrapper_with_one_head_equals_causal_attention():
    torch.manual_seed(2)
    wrapper = MultiHeadAttentionWrapper(D, 6, CONTEXT, num_heads=1)
    causal = CausalAttention(D, 6, CONTEXT)
    causal.load_state_dict(wrapper.heads[0].state_dict())
    x = torch.randn(2, 9, D)
    torch.testing.assert_close(wrapper(x), causal(x))


def test_wrapper_heads_are_independent_causal_attentions_side_by_side():
    wrapper = MultiHeadAttentionWrapper(D, D, CONTEXT, num_heads=HEADS)
    x = torch.randn(2, 5, D)
    expected = torch.cat([head(x) for head in wrapper.heads], dim=-1)
    torch.testing.assert_close(wrapper(x), expected)
    assert all(head.W_query.out_features == D // HEADS for head in wrapper.heads)


def mha_and_sdpa(*, causal: bool = True, dropout: float = 0.0) -> tuple[torch.nn.Module, torch.nn.Module]:
    """An mha and an sdpa module with the same weights."""
    torch.manual_seed(3)
    mha = MultiHeadAttention(D, D, CONTEXT, num_heads=HEADS, dropout=dropout, causal=causal, qkv_bias=True)
    sdpa = SDPAttention(D, D, CONTEXT, num_heads=HEADS, dropout=dropout, causal=causal, qkv_bias=True)
    sdpa.load_state_dict(mha.state_dict())  # the same parameters: checkpoints load both ways
    return mha, sdpa


@pytest.mark.parametrize("train", [False, True])
@pytest.mark.parametrize("causal", [True, False])
def test_sdpa_equals_mha(causal, train):
    mha, sdpa = mha_and_sdpa(causal=causal)
    mha.train(train), sdpa.train(train)
    x = torch.randn(4, 11, D, requires_grad=True)
    out_mha = mha(x)
    (grad_mha,) = torch.autograd.grad(out_mha.square().sum(), x)
    out_sdpa = sdpa(x)
    (grad_sdpa,) = torch.autograd.grad(out_sdpa.square().sum(), x)
    torch.testing.assert_close(out_sdpa, out_mha, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grad_sdpa, grad_mha, atol=1e-5, rtol=1e-5)


def test_sdpa_with_dropout_on_cpu_draws_the_same_masks_as_mha():
    """With dropout in training, sdpa takes mha's explicit path on CPU: the same RNG draws, same output."""
    mha, sdpa = mha_and_sdpa(dropout=0.5)
    x = torch.randn(2, 10, D)
    torch.manual_seed(7)
    expected = mha(x)
    torch.manual_seed(7)
    torch.testing.assert_close(sdpa(x), expected, rtol=1e-5, atol=1e-6)


def test_mha_with_one_head_is_causal_attention_plus_output_projection():
    torch.manual_seed(4)
    mha = MultiHeadAttention(D, D, CONTEXT, num_heads=1)
    causal = CausalAttention(D, D, CONTEXT)
    causal.load_state_dict({k: v for k, v in mha.state_dict().items() if not k.startswith("out_proj")})
    x = torch.randn(2, 7, D)
    torch.testing.assert_close(mha(x), mha.out_proj(causal(x)))


# The book's section 3.3 example: "Your journey starts with one step" as 3-d embeddings.
BOOK_INPUTS = torch.tensor(
    [[0.43, 0.15, 0.89], [0.55, 0.87, 0.66], [0.57, 0.85, 0.64],
     [0.22, 0.58, 0.33], [0.77, 0.25, 0.10], [0.05, 0.80, 0.55]]
)  # fmt: skip


def test_simple_attention_reproduces_the_books_context_vector_for_journey():
    simple = SimpleSelfAttention(3, 3, context_length=6, causal=False)
    context = simple(BOOK_INPUTS.unsqueeze(0))[0]
    torch.testing.assert_close(context[1], torch.tensor([0.4419, 0.6515, 0.5683]), atol=1e-4, rtol=0)
    # and every row of its weights sums to one (3.3.2)
    simple.keep_weights = True
    simple(BOOK_INPUTS.unsqueeze(0))
    torch.testing.assert_close(simple.last_weights.sum(-1), torch.ones(1, 6))


def test_causal_weights_are_zero_above_the_diagonal_and_rows_sum_to_one():
    module = make("mha").eval()
    module.keep_weights = True
    module(torch.randn(1, 6, D))
    weights = module.last_weights[0]  # (heads, T, T)
    assert torch.all(weights.triu(diagonal=1) == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(HEADS, 6))


def test_single_head_variants_refuse_several_heads():
    with pytest.raises(ValueError, match="single-head"):
        build_attention("causal", d_in=4, d_out=4, context_length=4, num_heads=2)


# --- beyond chapter 3 -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,settings,message",
    [
        ("mha", {"window": 4}, "window=4 is not allowed with attention=mha: it is a setting of swa only"),
        ("causal", {"kv_latent_dim": 4}, "kv_latent_dim=4 is not allowed with attention=causal"),
        ("swa", {"num_kv_groups": 2, "window": 4}, "num_kv_groups=2 .* it is a setting of gqa, mqa only"),
        ("mqa", {"num_kv_groups": 2}, "num_kv_groups=2 is not allowed with attention=mqa: it must be 1"),
        ("gqa", {}, "num_kv_groups=null is not allowed: it must be a whole number >= 1"),
        ("swa", {}, "window=null is not allowed: it must be a whole number >= 1"),
        ("mla", {}, "kv_latent_dim=null is not allowed: it must be a whole number >= 1"),
        ("gqa", {"num_kv_groups": 3}, "num_kv_groups=3 is not allowed with model.n_heads=4: it must divide"),
        ("gqa", {"num_kv_groups": 0}, "num_kv_groups=0 is not allowed: it must be a whole number >= 1"),
        ("swa", {"window": 0}, "window=0 is not allowed: it must be a whole number >= 1"),
        ("mha", {}, "emb_dim=12 is not allowed with model.n_heads=5: it must be a multiple of n_heads"),
    ],
)
def test_variant_settings_are_checked(name, settings, message):
    heads = 5 if "n_heads=5" in message else HEADS if VARIANTS[name].multi_head else 1
    with pytest.raises(ValueError, match=message):
        build_attention(name, d_in=D, d_out=D, context_length=CONTEXT, num_heads=heads, **settings)


@pytest.mark.parametrize("causal", [True, False])
def test_gqa_with_one_group_per_head_equals_mha(causal):
    torch.manual_seed(5)
    mha = MultiHeadAttention(D, D, CONTEXT, num_heads=HEADS, causal=causal, qkv_bias=True)
    gqa = GroupedQueryAttention(D, D, CONTEXT, num_heads=HEADS, causal=causal, qkv_bias=True,
                                num_kv_groups=HEADS)  # fmt: skip
    gqa.load_state_dict(mha.state_dict())
    x = torch.randn(2, 9, D)
    torch.testing.assert_close(gqa(x), mha(x))


def test_gqa_heads_of_one_group_share_keys_and_values():
    gqa = make("gqa").eval()  # 4 query heads, 2 key/value groups
    with torch.no_grad():  # query heads 0 and 1 (group 0) identical: so must be their outputs
        gqa.W_query.weight[3:6] = gqa.W_query.weight[0:3]
    gqa.keep_weights = True
    gqa(torch.randn(1, 7, D))
    weights = gqa.last_weights[0]  # (heads, T, T)
    torch.testing.assert_close(weights[1], weights[0])
    assert not torch.allclose(weights[2], weights[0])


def test_mqa_has_fewer_key_value_parameters_than_gqa_than_mha():
    def kv_parameters(name: str) -> int:
        module = make(name)
        return sum(p.numel() for n, p in module.named_parameters() if n.startswith(("W_key", "W_value")))

    head_dim = D // HEADS
    assert kv_parameters("mha") == 2 * D * D
    assert kv_parameters("gqa") == 2 * D * 2 * head_dim  # two groups
    assert kv_parameters("mqa") == 2 * D * head_dim  # one key/value head


@pytest.mark.parametrize("causal", [True, False])
def test_swa_with_a_window_as_long_as_the_context_equals_mha(causal):
    torch.manual_seed(6)
    mha = MultiHeadAttention(D, D, CONTEXT, num_heads=HEADS, causal=causal)
    swa = SlidingWindowAttention(D, D, CONTEXT, num_heads=HEADS, causal=causal, window=CONTEXT)
    swa.load_state_dict(mha.state_dict())
    x = torch.randn(2, CONTEXT, D)
    torch.testing.assert_close(swa(x), mha(x))


@pytest.mark.parametrize("causal", [True, False])
def test_swa_ignores_keys_outside_its_window(causal):
    swa = make("swa", causal=causal).eval()  # window 4: position 9 sees 6..9 (and 10..12 without the mask)
    x = torch.randn(1, 14, D)
    far, near = x.clone(), x.clone()
    far[:, :6] = torch.randn(1, 6, D)  # positions 0..5: more than window − 1 = 3 before 9
    near[:, 6] = torch.randn(1, D)
    torch.testing.assert_close(swa(far)[:, 9], swa(x)[:, 9], rtol=0, atol=0)
    assert not torch.allclose(swa(near)[:, 9], swa(x)[:, 9])
    swa.keep_weights = True
    swa(x)
    visible = swa.last_weights[0, 0] > 0  # (T, T) of head 0
    i, j = torch.meshgrid(torch.arange(14), torch.arange(14), indexing="ij")
    band = (i - j).abs() < 4
    assert torch.equal(visible, band & (j <= i) if causal else band)


# --- KV cache ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", VARIANTS)
def test_feeding_tokens_through_a_kv_cache_equals_one_causal_pass(name):
    module = make(name).eval()
    x = torch.randn(2, 11, D)
    cache = KVCache()
    chunks = [module(x[:, :5], cache)]  # a prompt of 5 tokens, then one token at a time
    for t in range(5, 11):
        chunks.append(module(x[:, t : t + 1], cache))
    torch.testing.assert_close(torch.cat(chunks, dim=1), module(x), atol=1e-5, rtol=1e-5)


def test_the_cache_holds_key_value_groups_a_window_or_the_latent():
    x = torch.randn(1, 10, D)
    held = {}
    for name in ("mha", "gqa", "mqa", "swa", "mla"):
        module, cache = make(name).eval(), KVCache()
        module(x, cache)
        held[name] = [tuple(t.shape) for t in cache.held(module)]
    head_dim = D // HEADS
    assert held["mha"] == [(1, HEADS, 10, head_dim)] * 2
    assert held["gqa"] == [(1, 2, 10, head_dim)] * 2
    assert held["mqa"] == [(1, 1, 10, head_dim)] * 2
    assert held["swa"] == [(1, HEADS, 4, head_dim)] * 2  # the last `window` tokens
    assert held["mla"] == [(1, 10, 6)]  # one latent of kv_latent_dim per token, not k and v
