"""Start-up time: seconds from `python train.py` to its first training step, next to `python -c "import
torch"` (the floor: no training process starts faster) and `python train.py --help`.

    python benchmarks/startup.py [--repeats 3] [overrides for train.py ...]

The run is train.py itself, started as a fresh process the way a user starts it; a small wrapper only
prints a timestamp when LitGPT.training_step is first called (it imports attention_lab.lit_module before
train.py does, which moves import time around but does not add any). The default overrides keep the run to
three steps and its logs under a temporary directory. Also reported: the process's CPU seconds up to the
first step, which a busy machine inflates much less than wall time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import ROOT, load_average, machine, print_table, save

WRAPPER = """
import resource, runpy, sys, time
import attention_lab.lit_module as lit_module
step = lit_module.LitGPT.training_step
def first_step(self, *args, **kwargs):
    if not getattr(first_step, "seen", False):
        first_step.seen = True
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        print(f"FIRST_STEP {time.time():.4f} {cpu.ru_utime + cpu.ru_stime:.3f}", flush=True)
    return step(self, *args, **kwargs)
lit_module.LitGPT.training_step = first_step
sys.argv = ["train.py", *sys.argv[1:]]
runpy.run_path("train.py", run_name="__main__")
"""


ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}  # this checkout's attention_lab


def time_first_step(overrides: list[str]) -> tuple[float, float]:
    start = time.time()
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, *overrides], cwd=ROOT, capture_output=True, text=True, env=ENV
    )
    for line in out.stdout.splitlines():
        if line.startswith("FIRST_STEP"):
            _, stamp, cpu = line.split()
            return float(stamp) - start, float(cpu)
    raise RuntimeError(f"train.py never reached a training step:\n{out.stdout}\n{out.stderr}")


def time_import_torch() -> float:
    start = time.time()
    subprocess.run([sys.executable, "-c", "import torch"], cwd=ROOT, capture_output=True, check=True, env=ENV)
    return time.time() - start


def time_help() -> float:
    start = time.time()
    subprocess.run([sys.executable, "train.py", "--help"], cwd=ROOT, capture_output=True, check=True, env=ENV)
    return time.time() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("overrides", nargs="*", help="extra train.py overrides")
    args = parser.parse_args()
    log_dir = tempfile.mkdtemp(prefix="attention-lab-startup-")
    overrides = ["trainer=debug", f"paths.log_dir={log_dir}", *args.overrides]
    load_before = load_average()
    first, cpu, helps, floor = [], [], [], []
    for _ in range(args.repeats):  # interleaved, as everywhere
        wall, cpu_s = time_first_step(overrides)
        first.append(wall)
        cpu.append(cpu_s)
        helps.append(time_help())
        floor.append(time_import_torch())
    print_table(
        ["measure", "median s", "all runs s"],
        [
            [
                "python train.py → first training step (wall)",
                f"{statistics.median(first):.1f}",
                " ".join(f"{x:.1f}" for x in first),
            ],
            [
                "  … CPU seconds of the process by then",
                f"{statistics.median(cpu):.1f}",
                " ".join(f"{x:.1f}" for x in cpu),
            ],
            [
                'python -c "import torch" (wall)',
                f"{statistics.median(floor):.1f}",
                " ".join(f"{x:.1f}" for x in floor),
            ],
            [
                "  first step / import torch (median of rounds)",
                f"{statistics.median(f / t for f, t in zip(first, floor, strict=True)):.2f}x",
                "",
            ],
            [
                "python train.py --help (wall)",
                f"{statistics.median(helps):.1f}",
                " ".join(f"{x:.1f}" for x in helps),
            ],
        ],
    )
    print(f"load average {load_before} → {load_average()}")
    path = save(
        "startup",
        {
            "benchmark": "start-up time of train.py",
            "overrides": overrides,
            "machine": machine() | {"load_average_before": load_before},
            "first_step_wall_s": first,
            "first_step_cpu_s": cpu,
            "help_wall_s": helps,
            "import_torch_wall_s": floor,
        },
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
