"""The leak probe that guards every causal run: before training starts, one sequence and copies of it with
their later inputs changed go through the model; under a working causal mask the outputs before the change
stay the same. It catches a mask the wrong way round (the book's efficient-attention notebook once passed
scaled_dot_product_attention a mask meaning "hide" where it reads "attend") in any variant, a reader's too.

It probes the model as built: on its device, in eval mode, with its initial weights. A leak that opens only
on a path taken while training (dropout), in a compiled graph or with trained weights is not one it sees."""

from __future__ import annotations

import torch

from attention_lab.errors import CausalityError
from attention_lab.model.gpt import GPTModel


def split_points(length: int) -> list[int]:
    """Where the probe's copies start to differ: at an odd position near the middle, (length // 2) | 1, so
    that the split falls inside any block of an even size (a mask that lets a block see itself whole leaks
    across it), and at the last position (a leak of the last input only, or only late in the window)."""
    return sorted({(length // 2) | 1, length - 1} - {0, length})


@torch.no_grad()
def first_leak(model: GPTModel, tokens: int = 256) -> int | None:
    """The leak probe: the first position whose output changes, or is not a number, when only later inputs
    change (a causal model has none), or None. One sequence of up to `tokens` ids and a copy per split point
    (`split_points`) go through everything but the output head (a per-position map, which cannot leak), in
    eval mode, on ids from a generator of its own: the run's random numbers stay untouched."""
    length = min(model.context_length, tokens)
    generator = torch.Generator().manual_seed(0)
    idx, other = torch.randint(0, model.config.vocab_size, (2, 1, length), generator=generator)
    device, was_training = model.out_head.weight.device, model.training
    model.eval()
    try:
        before = model.features(idx.to(device))[0]
        # Rounding, as where two passes of the same input differ in the last bits (on the CPU they do not):
        tolerance = 16 * torch.finfo(before.dtype).eps * float(before.nan_to_num().abs().amax())
        leaks = []
        for split in split_points(length):
            changed = torch.cat([idx[:, :split], other[:, split:]], dim=1)
            after = model.features(changed.to(device))[0, :split]
            same = torch.isclose(after, before[:split], rtol=0, atol=tolerance).all(dim=-1)  # NaN: not same
            leaks += [int((~same).nonzero()[0])] if not same.all() else []
    finally:
        model.train(was_training)
    return min(leaks, default=None)


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
