"""float32 against `trainer.precision=auto` (bf16-mixed on a CPU or GPU that multiplies bf16 in hardware),
side by side: whole `python train.py` processes per size, per step and end to end, and the val loss of both
after the same steps, against the spread over seeds.

    python benchmarks/precision.py [--seeds 3] [--sizes tiny small gpt2_124m]
    ONEDNN_MAX_CPU_ISA=AVX512_CORE python benchmarks/precision.py --sizes small   # without the bf16 units

For each size, each seed trains the same steps twice, fp32 and auto taking turns (which goes first
alternates), one validation at the end; reported per size: the median over seeds of fp32's time / auto's,
per training step and end to end (> 1: auto is faster), and the val losses (mean ± std over seeds) with the
mean per-seed difference auto − fp32 beside fp32's spread over seeds. `ONEDNN_MAX_CPU_ISA` holds oneDNN below
the CPU's bf16 instructions, as on a CPU without them (oneDNN's documented switch).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile

from common import load_average, machine, print_table, save
from end_to_end import ours

from attention_lab.hardware import automatic_precision

# Steps per size: a few seconds of training each for tiny and small, a minute for gpt2_124m.
STEPS = {"tiny": 200, "small": 40, "gpt2_124m": 8}


def runs(size: str, seeds: int, log_dir: str) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {"32-true": [], "auto": []}
    for seed in range(1, seeds + 1):
        order = ("32-true", "auto") if seed % 2 else ("auto", "32-true")
        for precision in order:
            overrides = [f"model={size}", f"trainer.max_steps={STEPS[size]}", "trainer.max_epochs=-1",
                         f"++trainer.val_check_interval={STEPS[size]}",
                         "++trainer.check_val_every_n_epoch=null",
                         f"trainer.precision={precision}", f"seed={seed}", f"paths.log_dir={log_dir}",
                         f"experiment_name=precision_{precision}"]  # fmt: skip
            found[precision].append(ours(overrides))
    return found


def summary(found: dict[str, list[dict]]) -> dict:
    fp32, auto = found["32-true"], found["auto"]
    per_step = statistics.median((a["training_steps"] / a["steps"]) / (b["training_steps"] / b["steps"])
                                 for a, b in zip(fp32, auto, strict=True))  # fmt: skip
    end_to_end = statistics.median(a["total"] / b["total"] for a, b in zip(fp32, auto, strict=True))
    losses = {name: [r["val_loss"] for r in found[name]] for name in found}
    differences = [b - a for a, b in zip(losses["32-true"], losses["auto"], strict=True)]
    spread = statistics.stdev(losses["32-true"]) if len(differences) > 1 else float("nan")
    return {
        "fp32_over_auto_per_step": per_step,
        "fp32_over_auto_end_to_end": end_to_end,
        "val_loss": losses,
        "difference_mean": statistics.fmean(differences),
        "fp32_seed_std": spread,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sizes", nargs="+", default=list(STEPS))
    args = parser.parse_args()
    if args.seeds < 2:
        parser.error("--seeds must be at least 2: the val losses are compared with their spread over seeds")
    chosen, why = automatic_precision("cpu")
    load_before, log_dir = load_average(), tempfile.mkdtemp(prefix="attention-lab-precision-")
    results, rows = {}, []
    for size in args.sizes:
        found = runs(size, args.seeds, log_dir)
        results[size] = {"steps": STEPS[size], "runs": found, **summary(found)}
        r = results[size]
        rows.append([size, str(STEPS[size]), f"{r['fp32_over_auto_per_step']:.2f}x",
                     f"{r['fp32_over_auto_end_to_end']:.2f}x",
                     *(f"{statistics.fmean(r['val_loss'][p]):.4f} ±{statistics.stdev(r['val_loss'][p]):.4f}"
                       for p in ("32-true", "auto")),
                     f"{r['difference_mean']:+.4f}", f"{r['fp32_seed_std']:.4f}"])  # fmt: skip
    print(f"auto chooses {chosen} here: {why} (ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA')})")
    title = (
        f"precision: fp32 against auto ({chosen}), {args.seeds} seeds per size, the same steps, one "
        "validation at the end; times: median over seeds of fp32's / auto's (> 1: auto is faster)"
    )
    table = print_table(["size", "steps", "fp32/auto per step", "end to end", "val fp32", "val auto",
                         "Δ auto − fp32", "fp32 seed std"], rows, title)  # fmt: skip
    record = {
        "auto": chosen,
        "why": why,
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "machine": machine() | {"load_average_before": load_before},
        "sizes": results,
    }
    path = save("precision", record, [table])
    print(f"results: {path}")


if __name__ == "__main__":
    main()
