"""What a command costs: its wall time and the memory of its processes, recorded as JSON.

    python benchmarks/sweep_cost.py --out docs/results/recall/cost.json -- python train.py sweep=recall

Runs the command after `--`, samples every second the resident memory (VmRSS) of it and of every process it
started (Linux /proc), and writes: the command, when it started, the wall time, the exit status, the largest
single process and the most all of them held at once, the machine (CPU, cores, torch) and the commit. The
documented sweeps' wall times and memory are these files (docs/results/<sweep>/cost.json).

    python benchmarks/sweep_cost.py --out docs/results/recall/cost.json --from-logs logs/recall_tiny \
        -- python train.py sweep=recall

For a sweep whose runs were not all started by one command (resumed after an interruption): reads each run's
event files instead, and records the number of runs and their training time summed (the span of each run's
events), with no wall time or memory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from common import machine, source_commit  # benchmarks/common.py
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader


def rss_bytes(pid: int) -> int:
    """The resident memory of process `pid` (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def descendants(root: int) -> set[int]:
    """`root` and every process below it."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo += children.get(pid, [])
    return found


def event_span(version_dir: Path) -> float:
    """Seconds from the first to the last event a run wrote."""
    times = [event.wall_time for path in version_dir.glob("events.out.tfevents.*")
             for event in EventFileLoader(str(path)).Load()]  # fmt: skip
    return max(times) - min(times)


def from_logs(command: list[str], log_dir: Path) -> dict:
    spans = [event_span(d) for d in sorted(log_dir.glob("*/version_*"))]  # runs, not the report's cells/
    return {"command": " ".join(command), "runs": len(spans), "run_seconds_total": round(sum(spans), 1),
            "measured": f"from the event files in {log_dir}",
            "machine": machine(), "commit": source_commit()}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    parser.add_argument("--from-logs", type=Path, help="a sweep's log folder: read its runs, run nothing")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.from_logs:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(from_logs(command, args.from_logs), indent=2) + "\n")
        return 0
    started, start = datetime.now(timezone.utc), time.perf_counter()
    process = subprocess.Popen(command)
    peak_process = peak_total = 0
    while process.poll() is None:
        sizes = [rss_bytes(pid) for pid in descendants(process.pid)]
        peak_process, peak_total = max(peak_process, *sizes, 0), max(peak_total, sum(sizes))
        time.sleep(1.0)
    record = {
        "command": " ".join(command),
        "started": started.isoformat(timespec="seconds"),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "exit_status": process.returncode,
        "peak_rss_largest_process_bytes": peak_process,
        "peak_rss_all_processes_bytes": peak_total,
        "machine": machine(),
        "commit": source_commit(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"{record['command']}: {record['wall_seconds']} s, exit {process.returncode} → {args.out}",
          file=sys.stderr)  # fmt: skip
    return process.returncode


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
