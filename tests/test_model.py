import pytest
import torch

from attention_lab.model import AttentionConfig, GPTModel, ModelConfig

TINY = ModelConfig(
    name="t", vocab_size=50257, context_length=16, emb_dim=32, n_layers=2, n_heads=4, drop_rate=0.1
)


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("context_length,expected", [(1024, 163_009_536), (256, 162_419_712)])
def test_parameter_count_of_the_books_124m_configuration(context_length, expected):
    with torch.device("meta"):  # counts without allocating 650 MB
        model = GPTModel(ModelConfig(context_length=context_length), AttentionConfig())
    assert count(model) == expected


@pytest.mark.parametrize("variant", ["simple", "self_v1", "causal", "mha_wrapper", "mha", "sdpa"])
def test_logits_shape(variant):
    model = GPTModel(TINY, AttentionConfig(name=variant))
    idx = torch.randint(0, 50257, (3, 10))
    assert model(idx).shape == (3, 10, 50257)


def test_too_long_input_is_refused():
    model = GPTModel(TINY, AttentionConfig())
    with pytest.raises(ValueError, match="context_length=16"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_the_whole_gpt_is_causal():
    model = GPTModel(TINY, AttentionConfig()).eval()
    idx = torch.randint(0, 50257, (2, 12))
    changed = idx.clone()
    changed[:, 8:] = (changed[:, 8:] + 1) % 50257
    assert torch.equal(model(idx)[:, :8], model(changed)[:, :8])


def test_causal_mask_forced_restores_each_layers_setting():
    model = GPTModel(TINY, AttentionConfig(name="mha_wrapper", causal=False)).eval()
    idx = torch.randint(0, 50257, (1, 12))
    changed = idx.clone()
    changed[:, 8:] = (changed[:, 8:] + 1) % 50257
    assert not torch.allclose(model(idx)[:, :8], model(changed)[:, :8])  # sees the future
    with model.causal_mask_forced():
        assert torch.equal(model(idx)[:, :8], model(changed)[:, :8])
    assert all(not m.causal for m in model.attention_modules())


@pytest.mark.parametrize("variant,heads", [("mha", 4), ("mha_wrapper", 4), ("sdpa", 4), ("causal", 1)])
def test_attention_maps_per_layer_are_causal_distributions(variant, heads):
    model = GPTModel(TINY, AttentionConfig(name=variant)).train()
    maps = model.attention_maps(torch.randint(0, 50257, (1, 6)))
    assert len(maps) == TINY.n_layers
    for weights in maps:
        assert weights.shape == (heads, 6, 6)
        assert torch.all(weights.triu(diagonal=1) == 0)
        torch.testing.assert_close(weights.sum(-1), torch.ones(heads, 6))
    assert model.training  # mode restored
    assert all(m.last_weights is None for m in model.attention_modules())  # nothing kept around


def test_builtin_layernorm_and_gelu_match_the_books_formulas():
    x = torch.randn(4, 32)
    mean, var = x.mean(-1, keepdim=True), x.var(-1, keepdim=True, unbiased=False)
    torch.testing.assert_close(torch.nn.LayerNorm(32, eps=1e-5)(x), (x - mean) / torch.sqrt(var + 1e-5))
    books_gelu = 0.5 * x * (1 + torch.tanh(torch.sqrt(torch.tensor(2.0 / torch.pi)) * (x + 0.044715 * x**3)))
    torch.testing.assert_close(torch.nn.GELU(approximate="tanh")(x), books_gelu)


@pytest.mark.parametrize(
    "variant,settings",
    [("gqa", {"num_kv_groups": 2}), ("mqa", {"num_kv_groups": 1}), ("swa", {"window": 4}),
     ("mla", {"kv_latent_dim": 8})],
)  # fmt: skip
def test_variants_beyond_chapter_3_build_and_train_a_step(variant, settings):
    torch.manual_seed(0)
    model = GPTModel(TINY, AttentionConfig(name=variant, **settings)).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    idx = torch.randint(0, 50257, (2, 12))
    before = [p.detach().clone() for p in model.parameters()]
    logits = model(idx[:, :-1])
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), idx[:, 1:].flatten())
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert all(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))
