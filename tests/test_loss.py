"""LitGPT's loss: the fused output head + cross-entropy equals the book's F.cross_entropy path (loss and
gradients), and the compiled model gives the eager loss."""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F

from attention_lab.model.loss import linear_cross_entropy
from tests.helpers import lit_gpt

# A tiny GPT without dropout (its inputs: ids below 97).
TINY = ["model.context_length=16", "model.emb_dim=32", "attention.dropout=0.0"]


def reference(hidden, weight, targets):
    return F.cross_entropy(F.linear(hidden, weight).flatten(0, 1), targets.flatten())


@pytest.mark.parametrize("chunk_rows", [1, 7, 64, 10_000])
def test_loss_and_gradients_match_cross_entropy(chunk_rows: int) -> None:
    torch.manual_seed(0)
    hidden = torch.randn(3, 20, 16, requires_grad=True)
    weight = (0.5 * torch.randn(300, 16)).requires_grad_()
    targets = torch.randint(0, 300, (3, 20))
    expected = reference(hidden, weight, targets)
    grad_hidden, grad_weight = torch.autograd.grad(expected, (hidden, weight))

    loss = linear_cross_entropy(hidden, weight, targets, chunk_rows=chunk_rows)
    fused_hidden, fused_weight = torch.autograd.grad(2.5 * loss, (hidden, weight))  # upstream grad ≠ 1

    torch.testing.assert_close(loss, expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(fused_hidden, 2.5 * grad_hidden, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fused_weight, 2.5 * grad_weight, rtol=1e-5, atol=1e-6)


def test_only_the_inputs_that_need_gradients_get_them() -> None:
    hidden = torch.randn(4, 8, requires_grad=True)
    weight = torch.randn(50, 8)  # frozen head
    linear_cross_entropy(hidden, weight, torch.randint(0, 50, (4,))).backward()
    assert hidden.grad is not None and weight.grad is None


def test_without_autograd_it_is_the_plain_loss() -> None:
    hidden, weight, targets = torch.randn(2, 5, 8), torch.randn(40, 8), torch.randint(0, 40, (2, 5))
    with torch.no_grad():
        torch.testing.assert_close(
            linear_cross_entropy(hidden, weight, targets), reference(hidden, weight, targets)
        )


def test_a_second_backward_is_refused_not_silently_wrong() -> None:
    hidden = torch.randn(4, 8, requires_grad=True)
    loss = linear_cross_entropy(hidden, torch.randn(50, 8), torch.randint(0, 50, (4,)))
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="backward runs once"):
        loss.backward()


def test_chunk_rows_must_be_positive() -> None:
    with pytest.raises(ValueError, match="chunk_rows=0"):
        linear_cross_entropy(
            torch.randn(2, 4, requires_grad=True), torch.randn(9, 4), torch.zeros(2, dtype=torch.long), 0
        )


def test_litgpt_fused_loss_matches_the_plain_loss() -> None:
    """LitGPT.loss with fused_loss on and off, from the same weights: same loss, same gradients."""
    torch.manual_seed(0)
    inputs, targets = torch.randint(0, 97, (4, 16)), torch.randint(0, 97, (4, 16))
    results = {}
    for fused in (False, True):
        torch.manual_seed(1)
        module = lit_gpt(*TINY, f"module.fused_loss={str(fused).lower()}")
        loss = module.loss(inputs, targets)
        loss.backward()
        results[fused] = (loss.detach(), {n: p.grad for n, p in module.named_parameters()})
    (plain_loss, plain_grads), (fused_loss, fused_grads) = results[False], results[True]
    torch.testing.assert_close(fused_loss, plain_loss, rtol=0, atol=1e-5)
    assert fused_grads.keys() == plain_grads.keys()
    for name, grad in plain_grads.items():
        torch.testing.assert_close(fused_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.slow
def test_compile_switch_gives_the_eager_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    # aot_eager traces the same graph as inductor (dynamo and AOTAutograd) and runs it with eager kernels,
    # without inductor's C++ compilation: the switch is what is under test, not the backend.
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    inputs, targets = torch.randint(0, 97, (2, 16)), torch.randint(0, 97, (2, 16))
    losses = []
    for compile in (False, True):
        torch.manual_seed(0)
        losses.append(lit_gpt(*TINY, f"module.compile={str(compile).lower()}").loss(inputs, targets))
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-5, atol=1e-6)
