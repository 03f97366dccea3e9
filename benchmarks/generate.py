"""Greedy generation speed, tokens/s, with and without the KV cache, next to the book's KV-cache code.

    python benchmarks/generate.py --book-dir DIR   # DIR: ch04/03_kv-cache of a LLMs-from-scratch checkout

Models `small` and `gpt2_124m` (conf/model), random weights, mha, context 256 (so prompt + 200 new tokens
fit), eval mode, fp32, batch 1, the prompt "Every effort moves you". Contenders, all on the same weights:
attention-lab's `generate` uncached and cached, and with --book-dir the book's two KV-cache scripts, each
its own GPTModel + generate_text_simple_cached: gpt_with_kv_cache.py (concatenated cache) and
gpt_with_kv_cache_optimized.py (preallocated cache). (The installed package's llms_from_scratch.kv_cache.gpt2,
1.0.19, fails at its first one-token step: its mask is sliced by columns, `causal_mask[:, -num_tokens:]`.)
They take turns (round robin); each figure is the median over `--rounds` rounds, ratios paired per round.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from common import interleave, load_average, machine, paired_ratio, print_table, save

from attention_lab.data.tokenizers import GPT2Tokenizer
from attention_lab.model import AttentionConfig, GPTModel, ModelConfig
from attention_lab.model.generation import generate

SIZES = {  # conf/model/{small,gpt2_124m}.yaml with the context stretched to 256
    "small": ModelConfig(name="small", context_length=256, emb_dim=256, n_layers=4, n_heads=4),
    "gpt2_124m": ModelConfig(name="gpt2_124m", context_length=256, emb_dim=768, n_layers=12, n_heads=12),
}
NEW_TOKENS, PROMPT = 200, "Every effort moves you"
UNCACHED = "attention-lab uncached"


def book_config(config: ModelConfig) -> dict:
    return {"vocab_size": config.vocab_size, "context_length": config.context_length,
            "emb_dim": config.emb_dim, "n_heads": config.n_heads, "n_layers": config.n_layers,
            "drop_rate": 0.0, "qkv_bias": False}  # fmt: skip


def book_state_dict(model: GPTModel) -> dict[str, torch.Tensor]:
    """Our weights under the book's names: its LayerNorm calls weight and bias scale and shift."""
    renamed = {}
    for name, tensor in model.state_dict().items():
        if "norm" in name:
            name = name.replace(".weight", ".scale").replace(".bias", ".shift")
        renamed[name] = tensor
    return renamed


def load_script(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def contenders(config: ModelConfig, idx: torch.Tensor, book_dir: Path | None) -> dict[str, Callable]:
    torch.manual_seed(123)
    ours = GPTModel(config, AttentionConfig(name="mha", dropout=0.0)).eval()
    runs = {
        UNCACHED: lambda: generate(ours, idx, NEW_TOKENS, config.context_length, use_cache=False),
        "attention-lab cached": lambda: generate(ours, idx, NEW_TOKENS, config.context_length),
    }
    if book_dir is not None:
        for label, script in [("book cache", "gpt_with_kv_cache.py"),
                              ("book optimized cache", "gpt_with_kv_cache_optimized.py")]:  # fmt: skip
            book = load_script(book_dir / script)
            model = book.GPTModel(book_config(config) | {"kv_window_size": config.context_length}).eval()
            missing, _ = model.load_state_dict(book_state_dict(ours), strict=False)  # + its cache buffers
            assert not missing, f"weights not loaded into the book's model: {missing}"
            runs[label] = partial(book.generate_text_simple_cached, model, idx, NEW_TOKENS)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--book-dir", type=Path, help="the book's ch04/03_kv-cache folder (its scripts)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    idx = GPT2Tokenizer().encode(PROMPT)[None]
    load_before = load_average()
    print(f"{NEW_TOKENS} new tokens after a {idx.shape[1]}-token prompt, batch 1, fp32, context 256, "
          f"{torch.get_num_threads()} threads; load average {load_before}")  # fmt: skip
    results = []
    for size in args.sizes:
        runs = contenders(SIZES[size], idx, args.book_dir)
        times: dict[str, list[float]] = {name: [] for name in runs}
        with torch.no_grad():
            outputs = {name: run() for name, run in runs.items()}  # warm-up, and the tokens to compare
            for round_number in range(args.rounds):  # one round at a time, printed as it ends
                for name, [seconds] in interleave(runs, rounds=1, repeats=1).items():
                    times[name].append(seconds)
                    print(f"{size} round {round_number + 1}: {name} {seconds:.2f} s", flush=True)
        reference = outputs[UNCACHED]
        for name, seconds in times.items():
            results.append({
                "model": size,
                "name": name,
                "median_tokens_per_s": NEW_TOKENS / statistics.median(seconds),
                "speedup_vs_uncached": paired_ratio(times[UNCACHED], seconds),
                "same_tokens_as_uncached": torch.equal(outputs[name], reference),
                "round_s": seconds,
            })  # fmt: skip
    print_table(
        ["model", "generation", "median tokens/s", "× uncached", "same tokens"],
        [[r["model"], r["name"], f"{r['median_tokens_per_s']:.1f}", f"{r['speedup_vs_uncached']:.2f}",
          "yes" if r["same_tokens_as_uncached"] else "no"] for r in results],
    )  # fmt: skip
    print(f"load average {load_before} → {load_average()}")
    path = save(
        "generate",
        {
            "benchmark": "greedy generation, KV cache",
            "shape": {"new_tokens": NEW_TOKENS, "prompt_tokens": idx.shape[1], "batch": 1, "context": 256},
            "args": {k: str(v) for k, v in vars(args).items()},
            "machine": machine() | {"load_average_before": load_before},
            "results": results,
        },
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
