"""Next-token cross-entropy computed together with the output head, its backward written by hand.

The book's loss, `F.cross_entropy(out_head(h).flatten(0, 1), targets.flatten())`, makes autograd walk the
(tokens, vocab) logits many times (for the `small` batch, 1,024 × 50,257 floats): the head's matmul
writes them, log-softmax reads them and writes a copy, the NLL backward zero-fills a third tensor of that
size and scatters into it, and the log-softmax backward reads two and writes a fourth. These passes are
bound by memory traffic, not arithmetic. `linear_cross_entropy` computes the same loss and gradients with
one logits tensor and fewer passes:

    logits = h·Wᵀ (tokens, vocab), one large matmul
    for each slab of rows (small enough to stay in cache):
        log p = log_softmax(slab);  loss −= Σ log p[target];  slab ← exp(log p)   (softmax, in place)
    dlogits = softmax − onehot(targets)       (= d loss_sum / d logits, still in place)
    grad_h = dlogits · W,  grad_W = dlogitsᵀ · h   (the head's two backward matmuls)

The gradients are computed in the forward pass (the loss is the last node of the graph, so backward only
scales them by the incoming gradient and 1/tokens). Same maths as the book's; the tests check the loss
and both gradients against F.cross_entropy's to float rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Rows per slab of (rows, vocab) log-probabilities: small enough to be reused while hot in cache.
DEFAULT_CHUNK_ROWS = 64


class _LinearCrossEntropy(torch.autograd.Function):
    """mean cross-entropy of softmax(hidden · weightᵀ) against targets, with a hand-written backward."""

    @staticmethod
    def forward(
        ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk_rows: int
    ) -> torch.Tensor:
        num_tokens = hidden.shape[0]
        logits = hidden @ weight.T  # (tokens, vocab): one large, efficient matmul
        loss_sum = logits.new_zeros((), dtype=torch.float32)
        for start in range(0, num_tokens, chunk_rows):  # a cache-sized slab of rows at a time
            rows = logits[start : start + chunk_rows]
            log_probs = torch.log_softmax(rows, dim=-1, dtype=torch.float32)  # fp32 even under autocast
            loss_sum -= log_probs.gather(1, targets[start : start + chunk_rows, None]).sum()
            torch.exp(log_probs, out=rows)  # softmax, written over the logits
        every_token = torch.arange(num_tokens, device=logits.device)
        dlogits = logits.index_put_((every_token, targets), logits.new_tensor(-1.0), accumulate=True)
        want_hidden, want_weight = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        grad_hidden = dlogits @ weight if want_hidden else None
        grad_weight = dlogits.T @ hidden if want_weight else None
        ctx.save_for_backward(grad_hidden, grad_weight)
        ctx.num_tokens, ctx.consumed = num_tokens, False
        return loss_sum / num_tokens

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor):
        if ctx.consumed:
            raise RuntimeError("linear_cross_entropy's gradients are scaled in place: backward runs once")
        ctx.consumed = True
        grad_hidden, grad_weight = ctx.saved_tensors
        scale = grad_loss / ctx.num_tokens  # d mean / d sum, times the incoming gradient
        return (
            None if grad_hidden is None else grad_hidden.mul_(scale),
            None if grad_weight is None else grad_weight.mul_(scale),
            None,
            None,
        )


def linear_cross_entropy(
    hidden: torch.Tensor,
    weight: torch.Tensor,
    targets: torch.Tensor,
    chunk_rows: int | None = DEFAULT_CHUNK_ROWS,
) -> torch.Tensor:
    """`F.cross_entropy(F.linear(hidden, weight).flatten(0, -2), targets.flatten())`, chunked over tokens.

    hidden (..., d), weight (vocab, d), targets (...) of class ids → mean loss (a scalar).
    `chunk_rows=None` takes the plain path (one logits tensor, autograd's backward).
    """
    hidden, targets = hidden.flatten(0, -2), targets.flatten()
    needs_grad = torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad)
    if chunk_rows is None or not needs_grad:  # evaluation: nothing to fuse with
        return F.cross_entropy(F.linear(hidden, weight), targets)
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows={chunk_rows} must be >= 1 (or None for the unchunked path)")
    return _LinearCrossEntropy.apply(hidden, weight, targets, chunk_rows)


@torch.no_grad()
def token_losses(
    hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk_rows: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """The cross-entropy of every token and whether its most likely id is the target, for evaluation:
    hidden (..., d), weight (vocab, d), targets (...) → two (...) tensors, 0 where a target is not scored
    (F.cross_entropy's ignore_index). The mean loss is `linear_cross_entropy`'s. The logits are made
    `chunk_rows` tokens at a time, so that validation never holds all of them (for gpt2_124m's batch:
    0.4 GB)."""
    rows, flat_targets = hidden.flatten(0, -2), targets.flatten()
    losses, hits = [], []
    for start in range(0, len(rows), chunk_rows):
        logits = F.linear(rows[start : start + chunk_rows], weight)  # (chunk_rows, vocab)
        wanted = flat_targets[start : start + chunk_rows]
        losses.append(F.cross_entropy(logits, wanted, reduction="none"))
        hits.append(logits.argmax(-1) == wanted)
    return torch.cat(losses).view(targets.shape), torch.cat(hits).view(targets.shape).float()
