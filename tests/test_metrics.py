"""The leak metrics: val/loss_causal judges a model with the causal mask forced on, as it would generate;
val_attention/next_token/layer_<i> is the weight its queries put on the token they must predict."""

from __future__ import annotations

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from attention_lab.model import AttentionConfig, GPTModel, ModelConfig
from attention_lab.training import run

# Short windows, one layer and a high learning rate: copying the next token through unmasked attention
# is learned in ~150 steps, so the leak shows within two epochs of a tiny model.
LEAK_SETTINGS = (
    "attention.dropout=0.0",
    "model.n_layers=1",
    "data.max_length=8",
    "optimizer.lr=1e-2",
)


def scalars(log_dir: str, prefix: str, field: str = "value") -> dict[str, list[float]]:
    """Each scalar tag under `prefix`: its values (or its steps, with field="step")."""
    events = EventAccumulator(log_dir, size_guidance={"scalars": 0})
    events.Reload()
    tags = [tag for tag in events.Tags()["scalars"] if tag.startswith(prefix)]
    return {tag: [getattr(e, field) for e in events.Scalars(tag)] for tag in tags}


@pytest.mark.slow
def test_a_model_trained_without_the_mask_leaks(fast_config):
    metrics = run(fast_config("attention.causal=false", "trainer.max_epochs=2", *LEAK_SETTINGS))
    # It predicts the next token by looking at it: its val loss is far below the loss it gets when it
    # cannot, which is the loss that matters for generation.
    assert metrics["val_loss"] < metrics["val_loss_causal"] - 1.0, metrics
    # ... and its attention has moved onto that token: from about 1/8 (8 tokens) to most of the weight.
    [next_token] = scalars(metrics["log_dir"], "val_attention/next_token/").values()
    assert len(next_token) == 2 and next_token[-1] > 0.5, next_token


@pytest.mark.slow
def test_for_a_causal_run_the_leak_metric_equals_val_loss(fast_config):
    metrics = run(fast_config("attention.causal=true", "trainer.limit_train_batches=5", *LEAK_SETTINGS))
    assert metrics["val_loss_causal"] == metrics["val_loss"]
    focus = scalars(metrics["log_dir"], "val_attention/")  # where the queries look, per layer
    assert set(focus) == {f"val_attention/{kind}/layer_0" for kind in ("next_token", "self", "previous_token",
                                                                        "first_token")}  # fmt: skip
    assert focus["val_attention/next_token/layer_0"] == [0.0]  # the mask hides the answer
    # ... logged at val/loss's step, so that TensorBoard shows the two curves over the same steps
    val_steps = scalars(metrics["log_dir"], "val/loss", "step")["val/loss"]
    focus_steps = scalars(metrics["log_dir"], "val_attention/", "step").values()
    assert all(steps == val_steps for steps in focus_steps), (val_steps, focus_steps)


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
