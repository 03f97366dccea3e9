"""Next-token cross-entropy computed together with the output head, a chunk of tokens at a time.

The book's loss, `F.cross_entropy(out_head(h).flatten(0, 1), targets.flatten())`, materialises the logits
of every token over the whole vocabulary: for the `small` batch that is 1,024 × 50,257 floats (206 MB),
written by the head's matmul, read and written again by log-softmax, zero-filled and scattered by the
NLL backward, read and written once more by the log-softmax backward. On a laptop CPU these memory-bound
passes cost about a third of a training step. `linear_cross_entropy` computes the same loss and the same
gradients with fewer passes over smaller tensors:

    for each chunk of tokens:  logits = h·Wᵀ (chunk, vocab) → log p = log_softmax(logits)
        loss      −= Σ log p[target]
        dlogits    = exp(log p) − onehot(target)           (= d loss_sum / d logits, in place)
        grad_h     = dlogits · W,   grad_W += dlogitsᵀ · h  (the two backward matmuls of the head)

The gradients are computed in the forward pass (the loss is the last node of the graph, so they are only
scaled by the incoming gradient in backward). The maths is the book's; only the order of float additions
in grad_W (accumulated chunk by chunk) differs, which the tests bound at 1e-5.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# 128 tokens × 50,257 logits = 26 MB per chunk: below glibc's 32 MB mmap threshold, so the buffers are
# recycled instead of being handed back to the kernel and page-faulted in again; large enough that the
# head's matmuls stay efficient (see benchmarks/throughput.py and the README's Performance section).
DEFAULT_CHUNK_ROWS = 128


class _LinearCrossEntropy(torch.autograd.Function):
    """mean cross-entropy of softmax(hidden · weightᵀ) against targets, with a hand-written backward."""

    @staticmethod
    def forward(
        ctx, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk_rows: int
    ) -> torch.Tensor:
        num_tokens = hidden.shape[0]
        logits = hidden @ weight.T  # (tokens, vocab): one large, efficient matmul
        loss_sum = logits.new_zeros(())
        for start in range(0, num_tokens, chunk_rows):  # a cache-sized slab of rows at a time
            rows = logits[start : start + chunk_rows]
            log_probs = torch.log_softmax(rows, dim=-1)
            loss_sum -= log_probs.gather(1, targets[start : start + chunk_rows, None]).sum()
            torch.exp(log_probs, out=rows)  # softmax, written over the logits
        dlogits = logits.index_put_((torch.arange(num_tokens), targets), torch.tensor(-1.0), accumulate=True)
        # d loss_sum / d logits = softmax − onehot(targets); the head's two backward matmuls follow.
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
