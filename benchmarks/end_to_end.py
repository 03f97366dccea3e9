"""Whole processes, side by side: `python train.py model=small` against the book's chapter 5 script.

    python benchmarks/end_to_end.py [--rounds 3] [--epochs 10] [overrides for train.py ...]
    python benchmarks/end_to_end.py --train-py-only model=tiny   # train.py's breakdown alone, any size

(a) train.py with default settings (checkpoints, TensorBoard extras, progress bar, throughput monitor);
(b) benchmarks/book_ch05.py: the book's loaders, GPTModel and train_model_simple on the same text and shape.
The two take turns for `--rounds` rounds; reported: the median over rounds of (b)'s time / (a)'s time, end
to end and per training step (> 1: train.py is faster), and where each process spends its time:
startup (process start → first training step), training steps, validation (the book: evaluate_model),
extras (TensorBoard samples and heatmaps; the book: generate_and_print_sample), checkpoints, the rest.
train.py's share comes from a timing callback added by a wrapper, as in benchmarks/startup.py. Each part is
also given as a share of train.py's whole run (the extras and checkpoints are meant to stay within 5%).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import ROOT, load_average, machine, print_table, save

WRAPPER = """
import json, runpy, sys, time
import lightning as L
import attention_lab.training.runner as train
from attention_lab.training.tensorboard import TensorBoardExtras

seconds = {"training_steps": 0.0, "validation": 0.0, "extras": 0.0, "checkpoints": 0.0}
stamps = {}

def timed(owner, name, key):
    original = getattr(owner, name)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds[key] += time.perf_counter() - start
    setattr(owner, name, wrapper)

for hook in ("on_fit_start", "on_validation_end"):
    timed(TensorBoardExtras, hook, "extras")
timed(L.Trainer, "save_checkpoint", "checkpoints")

class Timing(L.Callback):
    steps = 0
    def on_train_batch_start(self, *args):
        stamps.setdefault("first_step", time.time())
        self.start = time.perf_counter()
    def on_train_batch_end(self, *args):
        seconds["training_steps"] += time.perf_counter() - self.start
        Timing.steps += 1
    def on_validation_epoch_start(self, *args):
        self.val_start = time.perf_counter()
    def on_validation_epoch_end(self, *args):
        seconds["validation"] += time.perf_counter() - self.val_start
    def on_validation_end(self, trainer, *args):
        stamps["val_loss"] = float(trainer.callback_metrics.get("val/loss", float("nan")))

build_callbacks = train.build_callbacks
train.build_callbacks = lambda cfg: [Timing(), *build_callbacks(cfg)]
sys.argv = ["train.py", *sys.argv[1:]]
try:
    runpy.run_path("train.py", run_name="__main__")
except SystemExit as exit:
    if exit.code:  # refused or failed: timing_of shows why
        raise
timing = {**stamps, **seconds, "finished": time.time(), "steps": Timing.steps}
print("TIMING " + json.dumps(timing), flush=True)
"""

ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def timing_of(command: list[str]) -> dict:
    started = time.time()
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=ENV)
    for line in out.stdout.splitlines():
        if line.startswith("TIMING "):
            return {"started": started, **json.loads(line[len("TIMING ") :])}
    raise RuntimeError(f"{command[:3]} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")


def ours(overrides: list[str]) -> dict:
    t = timing_of([sys.executable, "-c", WRAPPER, *overrides])
    total = t["finished"] - t["started"]
    parts = {k: t[k] for k in ("training_steps", "validation", "extras", "checkpoints")}
    parts = {"startup": t["first_step"] - t["started"], **parts}
    rest = total - sum(parts.values())
    return {"total": total, "steps": t["steps"], **parts, "rest": rest, "val_loss": t.get("val_loss")}


def books(epochs: int) -> dict:
    t = timing_of([sys.executable, "benchmarks/book_ch05.py", f"--epochs={epochs}"])
    total = t["finished"] - t["started"]
    loop = t["finished"] - t["training_started"]
    parts = {
        "startup": t["training_started"] - t["started"],
        "training_steps": loop - t["evaluation_s"] - t["samples_s"],
        "validation": t["evaluation_s"],
        "extras": t["samples_s"],
        "checkpoints": 0.0,
    }
    return {"total": total, "steps": t["steps"], **parts, "rest": total - sum(parts.values())}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--train-py-only", action="store_true", help="leave out the book's script")
    parser.add_argument("overrides", nargs="*", help="extra train.py overrides")
    args = parser.parse_args()
    log_dir = tempfile.mkdtemp(prefix="attention-lab-e2e-")
    overrides = [
        "model=small",
        f"trainer.max_epochs={args.epochs}",
        f"paths.log_dir={log_dir}",
        *args.overrides,
    ]
    load_before = load_average()
    runs: dict[str, list[dict]] = {"train.py": [], "book": []}
    for _ in range(args.rounds):  # taking turns: a change in load hits both
        runs["train.py"].append(ours(overrides))
        if not args.train_py_only:
            runs["book"].append(books(args.epochs))
        print("ROUND " + json.dumps({name: runs[name][-1] for name in runs if runs[name]}), flush=True)
    keys = ["total", "startup", "training_steps", "validation", "extras", "checkpoints", "rest"]
    share = {key: statistics.median(r[key] / r["total"] for r in runs["train.py"]) for key in keys}
    if args.train_py_only:
        rows = [[key, f"{statistics.median(r[key] for r in runs['train.py']):.1f}", f"{share[key]:.1%}"]
                for key in keys]  # fmt: skip
        rows.append(["steps", str(runs["train.py"][0]["steps"]), ""])
        print_table(["median s", "train.py", "share"], rows)
        print(f"load average {load_before} → {load_average()}")
        machine_info = machine() | {"load_average_before": load_before}
        record = {"overrides": overrides, "runs": runs["train.py"], "share": share, "machine": machine_info}
        path = save("train_py_breakdown", record)
        print(f"results: {path}")
        return
    end_to_end = statistics.median(
        b["total"] / a["total"] for a, b in zip(runs["train.py"], runs["book"], strict=True)
    )
    per_step = statistics.median(
        (b["training_steps"] / b["steps"]) / (a["training_steps"] / a["steps"])
        for a, b in zip(runs["train.py"], runs["book"], strict=True)
    )
    rows = [
        [key, *(f"{statistics.median(r[key] for r in runs[name]):.1f}" for name in runs), f"{share[key]:.1%}"]
        for key in keys
    ]
    rows.append(["steps", *(str(runs[name][0]["steps"]) for name in runs), ""])
    title = f"end to end: {' '.join(overrides[:2])}, median of {args.rounds} rounds taken in turns"
    parts = print_table(["median s", "train.py", "book", "train.py share"], rows, title)
    ratios = [["end to end", f"{end_to_end:.2f}x"], ["per training step", f"{per_step:.2f}x"]]
    summary = print_table(["measure", "book / train.py"], ratios, "end to end: the book's time / train.py's")
    print(f"load average {load_before} → {load_average()}")
    path = save(
        "end_to_end",
        {
            "benchmark": "train.py model=small vs the book's chapter 5 script, whole processes",
            "overrides": overrides,
            "machine": machine() | {"load_average_before": load_before},
            "runs": runs,
            "book_over_train_py_end_to_end": end_to_end,
            "book_over_train_py_per_step": per_step,
            "train_py_share": share,
        },
        [parts, summary],
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
