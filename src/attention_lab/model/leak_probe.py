"""The leak probe that guards every causal run: before training starts, one sequence and a copy with its
later half changed go through the model; under a working causal mask the first half's outputs stay the
same. It catches a mask the wrong way round (the book's efficient-attention notebook once passed
scaled_dot_product_attention a mask meaning "hide" where it reads "attend") in any variant, a reader's too."""

from __future__ import annotations

import torch

from attention_lab.errors import CausalityError
from attention_lab.model.gpt import GPTModel


@torch.no_grad()
def first_leak(model: GPTModel, tokens: int = 256) -> int | None:
    """The leak probe: the first position whose output changes, or is not a number, when only the later
    half of the inputs changes (a causal model has none), or None. Two forward passes of one sequence of up
    to `tokens`, in eval mode, on ids from a generator of its own: the run's random numbers stay untouched."""
    length = min(model.context_length, tokens)
    generator = torch.Generator().manual_seed(0)
    idx, other = torch.randint(0, model.config.vocab_size, (2, 1, length), generator=generator)
    half = length // 2
    changed = torch.cat([idx[:, :half], other[:, half:]], dim=1)  # the later half of the inputs changed
    device, was_training = model.out_head.weight.device, model.training
    model.eval()
    try:
        before, after = model(idx.to(device))[0, :half], model(changed.to(device))[0, :half]
    finally:
        model.train(was_training)
    scale = before.nan_to_num().abs().amax()
    same = torch.isclose(after, before, rtol=1e-4, atol=1e-5 * float(scale)).all(dim=-1)  # NaN: not the same
    return int((~same).nonzero()[0]) if not same.all() else None


def leak_message(name: str, position: int) -> str:
    return (
        f"attention={name} with attention.causal=true lets position {position} see later inputs: its output "
        "there changed (or was no number) when only later inputs changed; its mask must be True where a key "
        "is hidden (scaled_dot_product_attention's boolean mask is True where a key is seen)"
    )


def refuse_leaks(model: GPTModel, name: str) -> None:
    """Raise CausalityError naming the variant and the first leaking position, if the probe finds one."""
    if (position := first_leak(model)) is not None:
        raise CausalityError(leak_message(name, position))
