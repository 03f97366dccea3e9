"""Shared helpers of the benchmarks: interleaved timing, machine description, JSON results."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "src"))  # this checkout's attention_lab, not an installed copy

import torch  # noqa: E402

from attention_lab.run_record import source_commit  # noqa: E402  (the commit a result was measured at)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average_1_5_15min": load_average(),
    }


def interleave(
    contenders: dict[str, Callable[[], None]], rounds: int, repeats: int
) -> dict[str, list[float]]:
    """Time each contender `repeats` times per round, contenders taking turns (A B C, B C A, C A B, ...), so
    that a change in the machine's load hits all of them alike and none always runs first (after another's
    memory churn). Returns name → one mean time per round (s)."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    order = list(contenders.items())
    for round_ in range(rounds):
        shift = round_ % len(order)
        for name, run in order[shift:] + order[:shift]:
            start = time.perf_counter()
            for _ in range(repeats):
                run()
            times[name].append((time.perf_counter() - start) / repeats)
    return times


def paired_ratio(reference: list[float], other: list[float]) -> float:
    """Median over rounds of reference time / other time: > 1 means `other` is faster."""
    return statistics.median(r / o for r, o in zip(reference, other, strict=True))


def matmul_peak_gflops(n: int = 2048) -> float:
    """fp32 GFLOP/s of one n×n by n×n matmul: the machine's practical matmul peak."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    start = time.perf_counter()
    torch.mm(a, b)
    return 2 * n**3 / (time.perf_counter() - start) / 1e9


def save(name: str, payload: dict, tables: list[dict] = ()) -> Path:
    """benchmarks/results/<name>-<UTC time>.json: `payload` with the command, the commit and the printed
    `tables` (print_table's), which a document quotes through docgen's table marker once the file is kept in
    benchmarks/measured/."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    record = {"command": " ".join(["python", *sys.argv]), "commit": source_commit(), **payload,
              "tables": list(tables)}  # fmt: skip
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def print_table(headers: list[str], rows: list[list[str]], title: str = "") -> dict:
    """Print the table (under its title) and return it as save() keeps it."""
    if title:
        print(title)
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]
    for row in (headers, ["-" * w for w in widths], *rows):
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)))
    return {"title": title, "headers": headers, "rows": [[str(x) for x in row] for row in rows]}
