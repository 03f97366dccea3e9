"""Time of every attention variant next to the book's MultiHeadAttention, in one process.

    python benchmarks/attention.py                  # forward + backward, dropout 0.1 (as in training)
    python benchmarks/attention.py --dropout 0.0    # without dropout (deterministic kernels)
    python benchmarks/attention.py --book           # the book's efficient-attention notebook, side by side
    python benchmarks/attention.py --probe [--model tiny] [--variants mha ...]   # the leak probe's cost
    python benchmarks/attention.py --book --variants mha     # only these, beside the book's class

Default: batch 8, 256 tokens, d_in = d_out = 768, 12 heads (single-head variants: one 768-wide head),
causal mask on, training mode, fp32, forward + backward of every registered variant that trains on this
device, each with the own settings of its conf/attention/<name>.yaml; the reference of every ratio is
`llms_from_scratch.ch03.MultiHeadAttention`, the book's class.

`--book`: the notebook's setting (ch03/02_bonus_efficient-multihead-attention: batch 8, 1,024 tokens, 768
wide, 12 heads, dropout 0) and its nine implementations as this lab has them, timed forward (as its
`%timeit mha(embeddings)`) and forward + backward, beside the notebook's own forward times on an M3 CPU
(PyTorch 2.4), each as a ratio to its chapter 3 MultiHeadAttention. A variant that cannot train on this
device (flex on the CPU) is timed forward only, its parameters frozen (no autograd recording).

`--probe`: what the leak probe (attention_lab.model.leak_probe.first_leak) adds before a causal run, for
every variant that trains here in a GPT of `--model`'s size, beside one training step of that model (forward
and backward of a batch of conf/data's batch size × its context length).

Every contender gets the same input and upstream gradient; they take turns (round robin) and each figure is
the median of `--rounds` timings after two warm-up rounds.
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
from attention_lab.cli import CONF_DIR, compose
from attention_lab.model import GPTModel
from attention_lab.model.leak_probe import first_leak
from attention_lab.settings import TrainSettings, checked

BATCH, D_MODEL, HEADS = 8, 768, 12
BOOK = "book ch03 MultiHeadAttention"
# The notebook's forward times on an M3 MacBook Air CPU, PyTorch 2.4 (its section 10.1), in ms, by this
# lab's name for each implementation; its 6th ran with an inverted mask (the later keys given as True to
# scaled_dot_product_attention, which reads True as attend), so its time is that of another computation.
NOTEBOOK_M3_MS = {
    "mha_wrapper": 179, BOOK: 166, "combined_qkv": 190, "einsum": 196, "sdpa": 110, "sdpa_mask": 99.5,
    "torch_mha need_weights": 198, "torch_mha": 168,
}  # fmt: skip


def trainable() -> list[str]:
    return [name for name, record in VARIANTS.items() if record.cannot_train_on("cpu") is None]


def variant(name: str, tokens: int, dropout: float, **settings: object) -> torch.nn.Module:
    record = VARIANTS[name]
    conf = OmegaConf.load(CONF_DIR / "attention" / f"{name}.yaml")  # its own settings as it trains
    own = {setting: conf[setting] for setting in record.settings} | settings
    return build_attention(name, d_in=D_MODEL, d_out=D_MODEL, context_length=tokens, num_heads=HEADS if
                           record.multi_head else 1, dropout=dropout, **own)  # fmt: skip


def contenders(tokens: int, dropout: float, book: bool, only: list[str] | None) -> dict[str, torch.nn.Module]:
    modules = {BOOK: BookMultiHeadAttention(D_MODEL, D_MODEL, tokens, dropout, HEADS)}
    if not book:
        return modules | {name: variant(name, tokens, dropout) for name in only or trainable()}
    names = only or ["mha_wrapper", "mha", "combined_qkv", "einsum", "sdpa", "sdpa_mask", "torch_mha", "flex"]
    modules |= {name: variant(name, tokens, dropout) for name in names}
    if "torch_mha" in names:
        modules["torch_mha need_weights"] = variant("torch_mha", tokens, dropout, need_weights=True)
    for name in names:
        if VARIANTS[name].cannot_train_on("cpu") is not None:  # flex: timed forward without autograd
            modules[name].requires_grad_(False)
    return modules


def forward(module: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    module.train()
    return lambda: module(x)  # with autograd recording, as the notebook's %timeit


def forward_backward(module: torch.nn.Module, x: torch.Tensor, grad: torch.Tensor) -> Callable[[], None]:
    module.train()

    def run() -> None:
        module.zero_grad(set_to_none=True)
        x.grad = None
        module(x).backward(grad)

    return run


def medians(runs: dict[str, Callable[[], None]], rounds: int) -> dict[str, list[float]]:
    interleave(runs, rounds=2, repeats=1)  # warm-up
    return interleave(runs, rounds=rounds, repeats=1)


def probe_costs(model_size: str, names: list[str], rounds: int) -> None:
    """The leak probe's time beside one training step of the same GPT, for each variant."""
    rows, times = [], {}
    for name in names:
        settings = checked(TrainSettings, compose(f"attention={name}", f"model={model_size}"))
        model = GPTModel(settings.model, settings.attention)
        context, batch_size = model.context_length, settings.data.batch_size
        idx = torch.randint(0, settings.model.vocab_size, (batch_size, context + 1))

        def step(model: GPTModel = model, idx: torch.Tensor = idx) -> None:
            model.train()
            model.zero_grad(set_to_none=True)
            logits = model(idx[:, :-1])
            torch.nn.functional.cross_entropy(logits.flatten(0, 1), idx[:, 1:].flatten()).backward()

        runs = {"probe": lambda model=model: first_leak(model), "step": step}
        times[name] = medians(runs, rounds)
        probe, one_step = (statistics.median(times[name][key]) for key in ("probe", "step"))
        rows.append([name, f"{probe * 1e3:.0f}", f"{one_step * 1e3:.0f}", f"{probe / one_step:.2f}"])
    print(f"model={model_size}, data.batch_size={batch_size}, {context} tokens; {load_average()}")
    print_table(["variant", "leak probe ms", "one training step ms", "probe / step"], rows)
    path = save("leak_probe", {"model": model_size, "machine": machine(), "seconds": times})
    print(f"results: {path}")


def main() -> None:
    text = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=text)
    parser.add_argument("--dropout", type=float, default=None, help="attention dropout (0.1; --book: 0)")
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (default 7, at least 5)")
    parser.add_argument("--book", action="store_true", help="the notebook's setting and implementations")
    parser.add_argument("--probe", action="store_true", help="the leak probe's cost beside a training step")
    parser.add_argument("--model", default="tiny", help="--probe: the model size (conf/model)")
    parser.add_argument("--variants", nargs="*", help="only these (default: all; beside the book's class)")
    args = parser.parse_args()
    if args.probe:
        return probe_costs(args.model, args.variants or trainable(), args.rounds)
    tokens, dropout = (1024, 0.0) if args.book else (256, 0.1)
    dropout = dropout if args.dropout is None else args.dropout

    torch.manual_seed(123)
    x = torch.randn(BATCH, tokens, D_MODEL, requires_grad=True)
    grad = torch.randn(BATCH, tokens, D_MODEL)
    modules = contenders(tokens, dropout, args.book, args.variants)
    load_before = load_average()
    print(f"batch {BATCH}, {tokens} tokens, d {D_MODEL}, {HEADS} heads, dropout {dropout}; {load_before}")
    trains = [n for n in modules if n not in VARIANTS or VARIANTS[n].cannot_train_on("cpu") is None]
    both = medians({name: forward_backward(modules[name], x, grad) for name in trains}, args.rounds)
    ahead = {}
    if args.book:
        ahead = medians({name: forward(module, x.detach()) for name, module in modules.items()}, args.rounds)

    def ms(times: dict[str, list[float]], name: str) -> str:
        return f"{statistics.median(times[name]) * 1e3:.0f}" if name in times else "—"

    def ratio(times: dict[str, list[float]], name: str) -> str:
        return f"{paired_ratio(times[BOOK], times[name]):.2f}" if name in times else "—"

    if args.book:
        speed = "speed × book"
        headers = ["implementation", "forward ms", speed, "notebook M3 " + speed, "fwd + bwd ms", speed]
        rows = [[name, ms(ahead, name), ratio(ahead, name),
                 f"{NOTEBOOK_M3_MS[BOOK] / NOTEBOOK_M3_MS[name]:.2f}" if name in NOTEBOOK_M3_MS else "—",
                 ms(both, name), ratio(both, name)] for name in modules]  # fmt: skip
    else:
        headers = ["module (forward + backward)", "median ms", "speed × book", "best ms"]
        rows = [[name, ms(both, name), ratio(both, name), f"{min(both[name]) * 1e3:.0f}"] for name in both]
    print_table(headers, rows)
    print(f"load average {load_before} → {load_average()}")
    path = save(
        "attention_book" if args.book else "attention",
        {
            "benchmark": "attention forward" + (" and forward + backward" if args.book else " + backward"),
            "shape": {"batch": BATCH, "tokens": tokens, "d": D_MODEL, "heads": HEADS, "dropout": dropout},
            "args": vars(args),
            "machine": machine() | {"load_average_before": load_before},
            "forward_s": ahead,
            "forward_backward_s": both,
            "notebook_m3_forward_ms": NOTEBOOK_M3_MS if args.book else {},
        },
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
