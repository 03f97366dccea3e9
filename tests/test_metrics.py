"""The leak metrics: val/loss_causal judges a model with the causal mask forced on, as it would generate;
val_attention/next_token/layer_<i> is the weight its queries put on the token they must predict."""

from __future__ import annotations

import contextlib

import pytest
import torch
import torch.nn.functional as F

from attention_lab import tags
from attention_lab.model import AttentionConfig, GPTModel, ModelConfig
from tests.helpers import lit_gpt, scalars, train

# Short windows, one layer and a high learning rate: copying the next token through unmasked attention
# is learned in ~150 steps, so the leak shows within two epochs of a tiny model.
LEAK_SETTINGS = (
    "attention.dropout=0.0",
    "model.n_layers=1",
    "data.max_length=8",
    "optimizer.lr=1e-2",
)


@pytest.mark.slow
def test_a_model_trained_without_the_mask_leaks(fast_config):
    metrics = train(fast_config("attention.causal=false", "trainer.max_epochs=2", *LEAK_SETTINGS))
    # It predicts the next token by looking at it: its val loss is far below the loss it gets when it
    # cannot, which is the loss that matters for generation.
    assert metrics["val_loss"] < metrics["val_loss_causal"] - 1.0, metrics
    # ... and its attention has moved onto that token: from about 1/8 (8 tokens) to most of the weight.
    [next_token] = scalars(metrics["version_dir"], "val_attention/next_token/").values()
    assert len(next_token) == 2 and list(next_token.values())[-1] > 0.5, next_token


@pytest.mark.slow
def test_a_causal_run_logs_where_attention_looks_at_val_loss_steps(fast_config):
    metrics = train(fast_config("attention.causal=true", "trainer.limit_train_batches=5", *LEAK_SETTINGS))
    focus = scalars(metrics["version_dir"], "val_attention/")  # where the queries look, per layer
    assert set(focus) == {tags.FOCUS.format(kind.name, 0) for kind in tags.FOCUS_KINDS}
    assert list(focus[tags.FOCUS.format(tags.NEXT_TOKEN, 0)].values()) == [0.0]  # the mask hides the answer
    # ... logged at val/loss's step, so that TensorBoard shows the two curves over the same steps
    val_steps = list(scalars(metrics["version_dir"], tags.VAL_LOSS)[tags.VAL_LOSS])
    assert all(list(steps) == val_steps for steps in focus.values()), (val_steps, focus)


@pytest.mark.parametrize("causal", [False, True])
def test_the_leak_metric_is_the_loss_with_the_mask_forced_and_val_loss_the_loss_as_trained(causal):
    torch.manual_seed(0)
    sizes = ["model.context_length=8", "model.emb_dim=16", "model.n_layers=1", "model.n_heads=2"]
    module = lit_gpt(*sizes, f"attention.causal={str(causal).lower()}", "attention.dropout=0.0").eval()
    batches = [torch.randint(0, module.model.config.vocab_size, (2, 9)) for _ in range(2)]
    with torch.no_grad():
        for step, tokens in enumerate(batches):
            module.validation_step((tokens[:, :-1], tokens[:, 1:]), step)

    def loss(forced: bool) -> torch.Tensor:
        with torch.no_grad(), module.model.causal_mask_forced() if forced else contextlib.nullcontext():
            return torch.stack([F.cross_entropy(module.model(t[:, :-1]).flatten(0, 1), t[:, 1:].flatten())
                                for t in batches]).mean()  # fmt: skip

    torch.testing.assert_close(module.val_loss.compute(), loss(forced=False))
    torch.testing.assert_close(module.val_loss_causal.compute(), loss(forced=True))
    # Forcing the mask changes an untrained non-causal model's loss: the two metrics tell it apart.
    assert causal == bool(torch.isclose(loss(forced=False), loss(forced=True)))


def test_forcing_the_mask_changes_nothing_for_a_causal_model_and_is_undone_after():
    torch.manual_seed(0)
    sizes = ModelConfig(context_length=16, emb_dim=32, n_layers=2, n_heads=2, drop_rate=0.0)
    idx = torch.randint(0, sizes.vocab_size, (2, 10))
    causal = GPTModel(sizes, AttentionConfig(name="mha", causal=True, dropout=0.0)).eval()
    with causal.causal_mask_forced():
        assert torch.equal(causal(idx), causal(idx))
    leaky = GPTModel(sizes, AttentionConfig(name="mha", causal=False, dropout=0.0)).eval()
    unmasked = leaky(idx)
    with leaky.causal_mask_forced():
        masked = leaky(idx)
        assert all(m.causal for m in leaky.attention_modules())
    assert not torch.allclose(masked, unmasked)
    assert not any(m.causal for m in leaky.attention_modules())
    assert torch.equal(leaky(idx), unmasked)


@pytest.mark.parametrize("variant", ["simple", "causal", "mha_wrapper", "sdpa"])
def test_every_variant_obeys_the_forced_mask(variant):
    torch.manual_seed(0)
    heads = 2 if variant in ("mha_wrapper", "sdpa") else 1
    sizes = ModelConfig(context_length=8, emb_dim=16, n_layers=1, n_heads=heads, drop_rate=0.0)
    model = GPTModel(sizes, AttentionConfig(name=variant, causal=False, dropout=0.0)).eval()
    idx = torch.randint(0, sizes.vocab_size, (1, 6))
    changed = idx.clone()
    changed[0, -1] = (idx[0, -1] + 1) % sizes.vocab_size
    with model.causal_mask_forced():  # then earlier positions cannot see the changed last token
        torch.testing.assert_close(model(idx)[:, :-1], model(changed)[:, :-1])
    assert not torch.allclose(model(idx)[:, :-1], model(changed)[:, :-1])
