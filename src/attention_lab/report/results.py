"""The report as a file: beside its figure, <figure>.json holds every table it printed, every cell's per-seed
values and budget, every effect with its interval and verdict, the command and the commit. The documented
sweeps' files are committed (docs/results/), and the tables of the docs are written from them
(attention_lab.docgen), so that a documented number is one a command wrote."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from attention_lab.report.learning import learning, train_seconds
from attention_lab.report.stats import METRICS, Cell, Effect
from attention_lab.report.tables import cells_learning
from attention_lab.run_record import source_commit

# The per-seed values each cell records: the tables' losses, the accuracy, where attention looked.
VALUES = (*(field for _, field in METRICS), "accuracy", "attention_next")


def number(value: float) -> float | None:
    """JSON has no NaN: null where a value was not logged."""
    return None if value is None or math.isnan(value) else round(value, 6)


def cell_record(cell: Cell) -> dict[str, Any]:
    found = learning(cell)
    return {
        "axes": {key: value for key, value in dataclasses.asdict(cell.axes).items() if value is not None},
        "n": len(cell.runs),
        "runs": [run.name for run in cell.runs],
        "steps": sorted({run.steps for run in cell.runs}),
        "train_seconds": [number(train_seconds(run)) for run in cell.runs],
        "values": {field: [number(getattr(run, field)) for run in cell.runs] for field in VALUES},
        "learning": {"change": number(found.change), "half_width": number(found.half_width),
                     "verdict": found.verdict},  # fmt: skip
    }


def effect_record(effect: Effect) -> dict[str, Any]:
    return {"effect": effect.effect, "where": effect.where, "measure": effect.measure,
            "difference": number(effect.difference), "half_width": number(effect.half_width),
            "verdict": effect.verdict, "cells": cells_learning(effect)}  # fmt: skip


def write_results(path: Path, command: str, folders: list[Path], cells: list[Cell], tables: list,
                  found: list[Effect]) -> Path:  # fmt: skip
    """<figure>.json: see the module's docstring."""
    record = {
        "command": command,
        "commit": source_commit(),
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "folders": [folder.name for folder in folders],
        "tables": [{"title": title, "headers": headers, "rows": rows} for title, headers, rows in tables],
        "cells": [cell_record(cell) for cell in cells],
        "effects": [effect_record(effect) for effect in found],
    }
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
