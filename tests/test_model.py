import pytest
import torch

from attention_lab.model import AttentionConfig, GPTModel, ModelConfig
from tests.helpers import own_settings

TINY = ModelConfig(
    name="t", vocab_size=50257, context_length=16, emb_dim=32, n_layers=2, n_heads=4, drop_rate=0.1
)


def replace(config: ModelConfig, **changes: object) -> ModelConfig:
    """`config` with `changes`, checked again as a new config."""
    return ModelConfig(**{**config.model_dump(), **changes})


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
    maps = model.attention_maps(torch.randint(0, 50257, (2, 6)))
    assert len(maps) == TINY.n_layers
    for weights in maps:
        assert weights.shape == (2, heads, 6, 6)
        assert torch.all(weights.triu(diagonal=1) == 0)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, heads, 6))
    assert model.training  # mode restored
    assert all(m.last_weights is None for m in model.attention_modules())  # nothing kept around


def test_builtin_layernorm_and_gelu_match_the_books_formulas():
    x = torch.randn(4, 32)
    mean, var = x.mean(-1, keepdim=True), x.var(-1, keepdim=True, unbiased=False)
    torch.testing.assert_close(torch.nn.LayerNorm(32, eps=1e-5)(x), (x - mean) / torch.sqrt(var + 1e-5))
    books_gelu = 0.5 * x * (1 + torch.tanh(torch.sqrt(torch.tensor(2.0 / torch.pi)) * (x + 0.044715 * x**3)))
    torch.testing.assert_close(torch.nn.GELU(approximate="tanh")(x), books_gelu)


# --- model.pos_emb: without position embeddings, word order reaches the model only through the mask ---
NO_POS = replace(TINY, drop_rate=0.0, pos_emb="none")


def test_without_positions_there_is_no_pos_emb_parameter():
    model = GPTModel(NO_POS, AttentionConfig())
    assert not hasattr(model, "pos_emb")
    assert not any(key.startswith("pos_emb") for key in model.state_dict())
    learned = GPTModel(TINY, AttentionConfig())
    assert "pos_emb.weight" in learned.state_dict()
    without = GPTModel(replace(TINY, pos_emb="none"), AttentionConfig())
    assert count(learned) - count(without) == TINY.context_length * TINY.emb_dim


@pytest.mark.parametrize("variant", ["mha", "mha_wrapper", "sdpa", "self_v2"])
def test_non_causal_model_without_positions_is_permutation_equivariant(variant):
    model = GPTModel(NO_POS, AttentionConfig(name=variant, causal=False, dropout=0.0)).eval()
    idx = torch.randint(0, 50257, (2, 12))
    perm = torch.randperm(12)
    # Shuffling the input tokens shuffles the outputs the same way: the model sees a bag of tokens.
    torch.testing.assert_close(model(idx[:, perm]), model(idx)[:, perm], rtol=1e-4, atol=1e-4)


def test_causal_model_without_positions_sees_order_through_the_mask():
    model = GPTModel(NO_POS, AttentionConfig(causal=True, dropout=0.0)).eval()
    idx = torch.randint(0, 50257, (2, 12))
    perm = torch.randperm(12)
    while torch.equal(perm, torch.arange(12)):
        perm = torch.randperm(12)
    assert not torch.allclose(model(idx[:, perm]), model(idx)[:, perm], atol=1e-4)


def test_one_causal_layer_without_positions_sees_its_prefix_as_a_set():
    """Each position attends to the tokens up to it, unordered: order comes from stacking masked layers."""
    model = GPTModel(replace(NO_POS, n_layers=1), AttentionConfig(causal=True, dropout=0.0))
    model.eval()
    idx = torch.randint(0, 50257, (1, 12))
    swapped = idx[:, [1, 0, *range(2, 12)]]  # the first two tokens exchanged
    torch.testing.assert_close(model(swapped)[:, 2:], model(idx)[:, 2:], rtol=1e-4, atol=1e-4)
    two_layers = GPTModel(NO_POS, AttentionConfig(causal=True, dropout=0.0)).eval()
    assert not torch.allclose(two_layers(swapped)[:, -1], two_layers(idx)[:, -1], atol=1e-4)


def test_unknown_pos_emb_is_refused():
    with pytest.raises(ValueError, match="pos_emb\n.*Input should be 'learned', 'none', 'rope' or 'alibi'"):
        replace(TINY, pos_emb="rotary")


@pytest.mark.parametrize("variant", ["gqa", "mqa", "swa", "mla"])
def test_variants_beyond_chapter_3_build_and_train_a_step(variant):
    torch.manual_seed(0)
    model = GPTModel(TINY, AttentionConfig(name=variant, **own_settings(variant))).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    idx = torch.randint(0, 50257, (2, 12))
    before = [p.detach().clone() for p in model.parameters()]
    logits = model(idx[:, :-1])
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), idx[:, 1:].flatten())
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert all(not torch.equal(b, p) for b, p in zip(before, model.parameters(), strict=True))


def test_each_dropout_acts_where_it_is_set_and_unset_ones_follow_drop_rate():
    """The book's exercise 4.3: the embeddings, the attention weights and the shortcut path."""
    config = replace(TINY, drop_rate=0.1, drop_rate_emb=0.3, drop_rate_shortcut=None)
    model = GPTModel(config, AttentionConfig(dropout=0.2))
    assert model.drop_emb.p == 0.3
    assert all(module.dropout.p == 0.2 for module in model.attention_modules())
    assert all(block.drop_shortcut.p == 0.1 for block in model.trf_blocks)  # null: drop_rate
