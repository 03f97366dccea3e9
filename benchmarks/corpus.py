"""What a larger corpus costs: Tiny Shakespeare (data=shakespeare) next to The Verdict.

    python benchmarks/corpus.py [--rounds 5]

Measured side by side, contenders taking turns each round (medians, and ratios per round):
- the token ids of the text: GPT-2 BPE from the text (tiktoken) against reading them from the token cache
  (data/token_cache.py), which every run after the first does;
- the training windows: attention-lab's SlidingWindowDataset (one int64 tensor, windows as views) against the
  book's GPTDatasetV1 (llms_from_scratch ch02: a Python list of two tensors per window), their build time
  and the memory they hold (tensor bytes, plus each list tensor's own object and storage, measured by
  tracemalloc for the lists);
- `python train.py trainer=debug` to its first training step, `data=verdict` against `data=shakespeare`
  with a warm token cache and with a cold one (a fresh cache folder holding only the tokenizer's ranks);
- one training step of the default tiny model on a batch of each corpus (same shape: the same cost).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import torch
from common import ROOT, interleave, load_average, machine, print_table, save

from attention_lab.data import token_cache
from attention_lab.data.tokenizer import END_OF_TEXT, gpt2_tokenizer, ranks_cache_path
from attention_lab.data.windows import SlidingWindowDataset

TEXTS = {"verdict": ROOT / "data" / "the-verdict.txt", "shakespeare": ROOT / "data" / "tinyshakespeare.txt"}
FIRST_STEP = """
import runpy, sys, time
import attention_lab.training.module as lit_module
step = lit_module.LitGPT.training_step
def first_step(self, *args, **kwargs):
    print(f"FIRST_STEP {time.time():.4f}", flush=True)
    sys.exit(0)
lit_module.LitGPT.training_step = first_step
sys.argv = ["train.py", *sys.argv[1:]]
runpy.run_path("train.py", run_name="__main__")
"""


def first_step_seconds(data: str, cache_home: Path, log_dir: str) -> float:
    env = {"PYTHONPATH": str(ROOT / "src"), "XDG_CACHE_HOME": str(cache_home), "PATH": "/usr/bin:/bin"}
    start = time.time()
    out = subprocess.run(
        [sys.executable, "-c", FIRST_STEP, "trainer=debug", f"data={data}", f"paths.log_dir={log_dir}"],
        cwd=ROOT, capture_output=True, text=True, env=env,
    )  # fmt: skip
    stamps = [line.split()[1] for line in out.stdout.splitlines() if line.startswith("FIRST_STEP")]
    if not stamps:
        raise RuntimeError(f"train.py data={data} never reached a training step:\n{out.stderr[-2000:]}")
    return float(stamps[0]) - start


def list_dataset_bytes(text: str, max_length: int, stride: int) -> tuple[int, int]:
    """Windows and bytes held by the book's GPTDatasetV1 (a list of two tensors per window)."""
    from llms_from_scratch.ch02 import GPTDatasetV1

    tracemalloc.start()
    dataset = GPTDatasetV1(text, gpt2_tokenizer(), max_length=max_length, stride=stride)
    python_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    tensors = dataset.input_ids + dataset.target_ids
    storage = sum(t.untyped_storage().nbytes() for t in tensors)
    return len(dataset), python_bytes + storage


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_before = load_average()
    texts = {name: path.read_text(encoding="utf-8") for name, path in TEXTS.items()}
    shakespeare = texts["shakespeare"]
    token_cache.token_ids(shakespeare)  # the cache is warm for the reads below

    ids = interleave(
        {
            "tokenize (tiktoken)": lambda: gpt2_tokenizer().encode(
                shakespeare, allowed_special={END_OF_TEXT}
            ),
            "read the token cache": lambda: token_cache.token_ids(shakespeare),
        },
        rounds=args.rounds,
        repeats=1,
    )
    tokens = token_cache.token_ids(shakespeare)
    windows = interleave(
        {"SlidingWindowDataset": lambda: SlidingWindowDataset(tokens, 64, 64)}, rounds=args.rounds, repeats=1
    )
    window_count, list_bytes = list_dataset_bytes(shakespeare, 64, 64)
    tensor_bytes = tokens.untyped_storage().nbytes()

    # The first step, cold and warm, each round in turns; a cold cache holds only the tokenizer's ranks.
    log_dir = tempfile.mkdtemp(prefix="attention-lab-corpus-")
    warm_home = Path(tempfile.mkdtemp(prefix="attention-lab-cache-"))
    (warm_home / "attention-lab").mkdir()
    shutil.copy(ranks_cache_path(), warm_home / "attention-lab" / ranks_cache_path().name)
    for data in ("verdict", "shakespeare"):  # untimed: the warm cache holds both texts' ids from here on
        first_step_seconds(data, warm_home, log_dir)
    first = {"verdict": [], "shakespeare, warm cache": [], "shakespeare, cold cache": []}
    for _ in range(args.rounds):
        cold_home = Path(tempfile.mkdtemp(prefix="attention-lab-cold-"))
        shutil.copytree(
            warm_home / "attention-lab", cold_home / "attention-lab", ignore=shutil.ignore_patterns("tokens")
        )
        first["shakespeare, cold cache"].append(first_step_seconds("shakespeare", cold_home, log_dir))
        first["verdict"].append(first_step_seconds("verdict", warm_home, log_dir))
        first["shakespeare, warm cache"].append(first_step_seconds("shakespeare", warm_home, log_dir))
        shutil.rmtree(cold_home)

    for folder in (log_dir, warm_home):
        shutil.rmtree(folder)
    steps = step_seconds(texts, args.rounds)
    median = statistics.median
    tokenize, read = ids["tokenize (tiktoken)"], ids["read the token cache"]
    rows = [
        ["Tiny Shakespeare: tokens", f"{len(tokens):,}", ""],
        ["token ids by tiktoken (s)", f"{median(tokenize):.3f}", ""],
        [
            "token ids from the cache (s)",
            f"{median(read):.4f}",
            f"{median(t / r for t, r in zip(tokenize, read, strict=True)):.0f}x faster",
        ],
        ["windows of 64 (stride 64)", f"{window_count:,}", ""],
        [
            "SlidingWindowDataset: build (µs) / bytes held",
            f"{median(windows['SlidingWindowDataset']) * 1e6:.0f}",
            f"{tensor_bytes:,} B",
        ],
        [
            "book's GPTDatasetV1 (list of tensors): bytes held",
            f"{list_bytes:,} B",
            f"{list_bytes / tensor_bytes:.1f}x the tensor",
        ],
    ]
    rows += [
        [
            f"train.py trainer=debug → first step, {name} (s)",
            f"{median(times):.2f}",
            " ".join(f"{t:.2f}" for t in times),
        ]
        for name, times in first.items()
    ]
    rows += [[f"one training step of tiny on a {name} batch (s)", f"{median(times):.3f}",
              f"{median(s / v for s, v in zip(times, steps['verdict'], strict=True)):.2f}x verdict's"]
             for name, times in steps.items()]  # fmt: skip
    print_table(["measure", "median", "note"], rows)
    print(f"load average {load_before} → {load_average()}")
    path = save("corpus", {"benchmark": "Tiny Shakespeare next to The Verdict", "machine": machine(),
                           "tokens": len(tokens), "tokenize_s": tokenize, "cache_read_s": read,
                           "windows_build_s": windows["SlidingWindowDataset"], "windows": window_count,
                           "tensor_bytes": tensor_bytes, "list_dataset_bytes": list_bytes,
                           "first_step_s": first, "step_s": steps})  # fmt: skip
    print(f"results: {path}")


def step_seconds(texts: dict[str, str], rounds: int) -> dict[str, list[float]]:
    """One optimizer step of the default tiny model (context 64, batch 8) on a batch of each corpus."""
    from attention_lab.model.config import AttentionConfig, ModelConfig
    from attention_lab.model.gpt import GPTModel

    torch.manual_seed(0)
    model = GPTModel(ModelConfig(context_length=64, emb_dim=64, n_layers=2, n_heads=4), AttentionConfig())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batches = {name: token_cache.token_ids(text)[: 8 * 65].view(8, 65) for name, text in texts.items()}

    def step(batch: torch.Tensor) -> None:
        logits = model(batch[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), batch[:, 1:].flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return interleave({name: (lambda b=b: step(b)) for name, b in batches.items()}, rounds=rounds, repeats=5)


if __name__ == "__main__":
    main()
