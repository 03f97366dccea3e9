"""Start-up time: seconds from `python train.py` to its first training step, next to `python -c "import
torch"` (no training process starts faster), `python -c "import lightning"` (no Lightning run starts
faster), `python train.py --help`, `python train.py model.n_heads=0` (a bad value of the settings schema,
reported before Lightning is imported) and `python train.py trainer.max_epochs=-2` (a bad Trainer value,
which Lightning refuses as the Trainer is built).

    python benchmarks/startup.py [--repeats 3] [overrides for train.py ...]

The run is train.py itself, started as a fresh process the way a user starts it; a small wrapper only
prints a timestamp when LitGPT.training_step is first called (it imports attention_lab.training before
train.py does, which moves import time around but does not add any). The default overrides keep the run to
three steps and its logs under a temporary directory. Also reported: the process's CPU seconds up to the
first step, which a busy machine inflates much less than wall time.

    python benchmarks/startup.py --stages [--repeats 3]

splits the way to the first step into stages instead: a wrapper imports what train.py imports, in the
same order of cost (Hydra's and attention-lab's command-line modules, then torch and Lightning), and prints
a timestamp as each stage of attention_lab.training.run ends. Hydra composes the config after the
Lightning import here, before it in train.py; the stages' sum is the same.

    python benchmarks/startup.py --imports [--repeats 3]

imports what train.py imports step by step in one process (torch, then torch._dynamo, then torchmetrics
...) and shows what each step adds.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import ROOT, load_average, machine, print_table, save

WRAPPER = """
import resource, runpy, sys, time
import attention_lab.training.module as lit_module
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

STAGES_WRAPPER = """
import runpy, sys, time
def mark(stage):
    print(f"STAGE {time.time():.4f} {stage}", flush=True)
import attention_lab.cli
mark("import omegaconf, Hydra and attention_lab's command-line modules")
import attention_lab.data.datamodule as data, attention_lab.training.module as lit_module
import attention_lab.training.runner as runner
mark("import torch, Lightning and the rest of attention_lab")
def ends(function, stage):
    def timed(*args, **kwargs):
        out = function(*args, **kwargs)
        mark(stage)
        return out
    return timed
def starts(function, stage):
    def timed(*args, **kwargs):
        mark(stage)
        return function(*args, **kwargs)
    return timed
runner.build_logger = starts(runner.build_logger, "Hydra: compose the config, logging; the settings checks")
runner.build_trainer = ends(runner.build_trainer, "logger, callbacks and Trainer (Lightning's checks)")
data.TextDataModule.setup = ends(data.TextDataModule.setup, "tokenizer, text and windows")
runner.LitGPT.of = ends(runner.LitGPT.of, "the model")
runner.refuse_leaks = ends(runner.refuse_leaks, "the leak probe (causal runs)")
step = lit_module.LitGPT.training_step
lit_module.LitGPT.training_step = starts(step, "Lightning's fit up to the first step")
sys.argv = ["train.py", *sys.argv[1:]]
runpy.run_path("train.py", run_name="__main__")
"""

ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}  # this checkout's attention_lab


def time_stages(overrides: list[str]) -> dict[str, float]:
    """Seconds each stage of the way to the first training step took, in order (first occurrence of each)."""
    start = time.time()
    out = subprocess.run(
        [sys.executable, "-c", STAGES_WRAPPER, *overrides], cwd=ROOT, capture_output=True, text=True, env=ENV
    )
    stages: dict[str, float] = {}
    previous = start
    for line in out.stdout.splitlines():
        if line.startswith("STAGE"):
            _, stamp, stage = line.split(" ", 2)
            if stage not in stages:
                stages[stage] = float(stamp) - previous
                previous = float(stamp)
    if "Lightning's fit up to the first step" not in stages:
        raise RuntimeError(f"train.py never reached a training step:\n{out.stdout}\n{out.stderr}")
    return stages


def report_stages(overrides: list[str], repeats: int) -> None:
    runs = [time_stages(overrides) for _ in range(repeats)]
    rows = [
        [
            stage,
            f"{statistics.median(run[stage] for run in runs):.2f}",
            " ".join(f"{run[stage]:.2f}" for run in runs),
        ]
        for stage in runs[0]
    ]
    totals = [sum(run.values()) for run in runs]
    rows.append(["process start → first training step", f"{statistics.median(totals):.2f}", ""])
    print_table(["stage (in order)", "median s", "all runs s"], rows)
    path = save(
        "startup_stages",
        {
            "benchmark": "stages of train.py's way to its first training step",
            "overrides": overrides,
            "machine": machine(),
            "interpreter": sys.executable,
            "stages_s": runs,
        },
    )
    print(f"results: {path}")


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


def time_import(module: str) -> float:
    """Seconds from process start until `import module` returns (the process's exit is not counted, as it is
    not for the first step)."""
    start = time.time()
    code = f"import time; import {module}; print(time.time())"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, check=True, env=ENV, text=True
    )
    return float(out.stdout.split()[-1]) - start


def time_command(*arguments: str, status: int = 0) -> float:
    """Wall seconds of `python train.py <arguments>`, exit included (what the user waits for); the command
    must end with exit status `status`."""
    start = time.time()
    out = subprocess.run([sys.executable, "train.py", *arguments], cwd=ROOT, capture_output=True, env=ENV)
    seconds = time.time() - start
    if out.returncode != status:
        raise RuntimeError(f"train.py {' '.join(arguments)} exited {out.returncode}:\n{out.stderr.decode()}")
    return seconds


IMPORT_STEPS = {  # imported one after the other in one process; each row's time is what it adds
    "omegaconf, hydra": "the command line and its config",
    "torch": "the model",
    "torch._dynamo": "imported by lightning.fabric.wrappers at start (sympy, torch.fx, FSDP)",
    "matplotlib.pyplot": "imported by torchmetrics.utilities.plot",
    "torchmetrics": "imported by Lightning at start (+ scipy.signal where SciPy is installed)",
    "lightning": "the Trainer",
    "attention_lab.training": "the rest of this project",
}
IMPORTS_CHILD = """
import sys, time
for modules in sys.argv[1:]:
    start = time.perf_counter()
    for module in modules.split(", "):
        __import__(module)
    print(f"IMPORT {time.perf_counter() - start:.4f} {modules}", flush=True)
"""


def report_imports(repeats: int) -> None:
    """What each step of train.py's imports adds, the steps imported in order in one process."""
    runs: list[dict[str, float]] = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", IMPORTS_CHILD, *IMPORT_STEPS],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env=ENV,
        )
        lines = [line.split(" ", 2) for line in out.stdout.splitlines() if line.startswith("IMPORT")]
        runs.append({modules: float(seconds) for _, seconds, modules in lines})
    medians = {step: statistics.median(run[step] for run in runs) for step in IMPORT_STEPS}
    total = sum(medians.values())
    rows = [
        [f"import {step}: {why}", f"{medians[step]:.2f}", f"{medians[step] / total:.0%}"]
        for step, why in IMPORT_STEPS.items()
    ]
    rows.append(["all of them", f"{total:.2f}", "100%"])
    print_table(["import, in this order", "adds s (median)", "share"], rows)
    path = save(
        "startup_imports",
        {
            "benchmark": "train.py's imports step by step",
            "machine": machine(),
            "interpreter": sys.executable,
            "imports_s": runs,
        },
    )
    print(f"results: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stages", action="store_true", help="time the stages up to the first step")
    parser.add_argument("--imports", action="store_true", help="where import time goes (-X importtime)")
    parser.add_argument("overrides", nargs="*", help="extra train.py overrides")
    args = parser.parse_args()
    log_dir = tempfile.mkdtemp(prefix="attention-lab-startup-")
    overrides = ["trainer=debug", f"paths.log_dir={log_dir}", *args.overrides]
    if args.stages:
        report_stages(overrides, args.repeats)
        return
    if args.imports:
        report_imports(args.repeats)
        return
    load_before = load_average()
    first, cpu, helps, bad, bad_trainer, floor, lightning = [], [], [], [], [], [], []
    for _ in range(args.repeats):  # interleaved, as everywhere
        wall, cpu_s = time_first_step(overrides)
        first.append(wall)
        cpu.append(cpu_s)
        helps.append(time_command("--help"))
        bad.append(time_command("model.n_heads=0", *overrides[1:], status=1))  # one error line
        bad_trainer.append(time_command("trainer.max_epochs=-2", *overrides[1:], status=1))
        floor.append(time_import("torch"))
        lightning.append(time_import("lightning"))
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
                'python -c "import lightning" (wall)',
                f"{statistics.median(lightning):.1f}",
                " ".join(f"{x:.1f}" for x in lightning),
            ],
            [
                "  first step − import lightning (median of rounds)",
                f"{statistics.median(f - t for f, t in zip(first, lightning, strict=True)):+.1f}",
                "",
            ],
            [
                "python train.py --help (wall)",
                f"{statistics.median(helps):.1f}",
                " ".join(f"{x:.1f}" for x in helps),
            ],
            [
                "python train.py model.n_heads=0 (a bad value of the schema; wall)",
                f"{statistics.median(bad):.1f}",
                " ".join(f"{x:.1f}" for x in bad),
            ],
            [
                "python train.py trainer.max_epochs=-2 (a value Lightning refuses; wall)",
                f"{statistics.median(bad_trainer):.1f}",
                " ".join(f"{x:.1f}" for x in bad_trainer),
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
            "interpreter": sys.executable,
            "scipy_installed": importlib.util.find_spec("scipy") is not None,  # torchmetrics imports it
            "first_step_wall_s": first,
            "first_step_cpu_s": cpu,
            "help_wall_s": helps,
            "bad_value_wall_s": bad,
            "bad_trainer_value_wall_s": bad_trainer,
            "import_torch_wall_s": floor,
            "import_lightning_wall_s": lightning,
        },
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
