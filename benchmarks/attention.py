"""Forward + backward time of every attention variant next to the book's MultiHeadAttention.

    python benchmarks/attention.py                  # dropout 0.1 (as in training), ~2 minutes on 2 idle cores
    python benchmarks/attention.py --dropout 0.0    # without dropout (deterministic kernels)

Batch 8, 256 tokens, d_in = d_out = 768, 12 heads (single-head variants: one 768-wide head), causal mask
on, training mode, fp32. Every contender gets the same input and the same upstream gradient, in this one
process; they take turns (round robin) and each figure is the median of `--rounds` timings after warm-up.
Contenders besides attention-lab's variants: `llms_from_scratch.ch03.MultiHeadAttention` (the book's
class, the reference of every ratio) and `torch.nn.MultiheadAttention` (bias off, causal mask).
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

import torch
from common import interleave, load_average, machine, paired_ratio, print_table, save
from llms_from_scratch.ch03 import MultiHeadAttention as BookMultiHeadAttention
from omegaconf import OmegaConf

from attention_lab.attention import VARIANTS, build_attention
from attention_lab.cli import CONF_DIR

BATCH, TOKENS, D_MODEL, HEADS = 8, 256, 768, 12
BOOK = "book ch03 MultiHeadAttention"


class TorchMultiheadAttention(torch.nn.Module):
    """torch.nn.MultiheadAttention as a (batch, tokens, d) → (batch, tokens, d) causal self-attention."""

    def __init__(self, dropout: float) -> None:
        super().__init__()
        self.attention = torch.nn.MultiheadAttention(
            D_MODEL, HEADS, dropout=dropout, bias=False, batch_first=True
        )
        mask = torch.triu(torch.ones(TOKENS, TOKENS, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(x, x, x, attn_mask=self.mask, is_causal=True, need_weights=False)[0]


def contenders(dropout: float) -> dict[str, torch.nn.Module]:
    modules: dict[str, torch.nn.Module] = {
        BOOK: BookMultiHeadAttention(D_MODEL, D_MODEL, TOKENS, dropout, HEADS)
    }
    for name, record in VARIANTS.items():
        heads = HEADS if record.multi_head else 1
        conf = OmegaConf.load(CONF_DIR / "attention" / f"{name}.yaml")  # its own settings as it trains
        modules[name] = build_attention(
            name, d_in=D_MODEL, d_out=D_MODEL, context_length=TOKENS, num_heads=heads, dropout=dropout,
            **{setting: conf[setting] for setting in record.settings},
        )
    modules["torch.nn.MultiheadAttention"] = TorchMultiheadAttention(dropout)
    return modules


def forward_backward(module: torch.nn.Module, x: torch.Tensor, grad: torch.Tensor) -> Callable[[], None]:
    module.train()

    def run() -> None:
        module.zero_grad(set_to_none=True)
        x.grad = None
        module(x).backward(grad)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dropout", type=float, default=0.1, help="attention dropout (default 0.1)")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (default 7, at least 5)")
    args = parser.parse_args()

    torch.manual_seed(123)
    x = torch.randn(BATCH, TOKENS, D_MODEL, requires_grad=True)
    grad = torch.randn(BATCH, TOKENS, D_MODEL)
    runs = {name: forward_backward(m, x, grad) for name, m in contenders(args.dropout).items()}
    load_before = load_average()
    print(
        f"batch {BATCH}, {TOKENS} tokens, d {D_MODEL}, {HEADS} heads, dropout {args.dropout}; "
        f"load average {load_before}"
    )
    interleave(runs, rounds=2, repeats=1)  # warm-up
    times = interleave(runs, rounds=args.rounds, repeats=1)

    results = [
        {
            "name": name,
            "median_ms": statistics.median(seconds) * 1e3,
            "speedup_vs_book": paired_ratio(times[BOOK], seconds),
            "best_ms": min(seconds) * 1e3,
            "best_speedup_vs_book": min(times[BOOK]) / min(seconds),
            "round_ms": [s * 1e3 for s in seconds],
        }
        for name, seconds in times.items()
    ]
    print_table(
        ["module (forward + backward)", "median ms", "× book", "best ms", "× book (best)"],
        [
            [
                r["name"],
                f"{r['median_ms']:.0f}",
                f"{r['speedup_vs_book']:.2f}",
                f"{r['best_ms']:.0f}",
                f"{r['best_speedup_vs_book']:.2f}",
            ]
            for r in results
        ],
    )
    print(f"load average {load_before} → {load_average()}")
    path = save(
        "attention",
        {
            "benchmark": "attention forward + backward",
            "shape": {"batch": BATCH, "tokens": TOKENS, "d": D_MODEL, "heads": HEADS},
            "args": vars(args),
            "machine": machine() | {"load_average_before": load_before},
            "results": results,
        },
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
