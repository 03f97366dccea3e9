"""The report's tables: the cells (runs that differ only by seed) with the mean ± std of each loss, and the
effects, printed as Markdown, plain columns or a rich table."""

from __future__ import annotations

import math
from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from attention_lab.report.learning import SETTLED, STILL_LEARNING, WORSENING, learning, quality_of
from attention_lab.report.runs import RunSummary
from attention_lab.report.stats import METRICS, Cell, Effect, mean_interval, mean_std
from attention_lab.run_record import RunAxes
from attention_lab.tags import FOCUS_KINDS


def mean_std_text(values: list[float], digits: int = 3) -> str:
    """ "6.712 ±0.013" (mean ± std over seeds); the mean alone for one seed; "—" for none."""
    mean, std = mean_std(values)
    if math.isnan(mean):
        return "—"
    return f"{mean:,.{digits}f}" + ("" if math.isnan(std) else f" ±{std:,.{digits}f}")


def setting_columns(cells: list[Cell]) -> tuple[list[str], list[list[str]]]:
    """What tells the cells apart (RunAxes.differing: variant, mask, dropout, and any other axis where the
    cells differ by it), then the number of seeds."""
    axes = cells[0].axes if cells else RunAxes()
    names = list(axes.differing([c.axes for c in cells]))
    headers = [*map(axes.title_of, names), "n"]
    return headers, [[*map(c.axes.shown, names), str(len(c.runs))] for c in cells]


def cell_rows(cells: list[Cell]) -> tuple[list[str], list[list[str]]]:
    headers, rows = setting_columns(cells)
    losses = [[mean_std_text(c.values(field)) for _, field in METRICS] for c in cells]
    return headers + [title for title, _ in METRICS], [row + v for row, v in zip(rows, losses, strict=True)]


def learning_rows(cells: list[Cell]) -> tuple[list[str], list[list[str]]]:
    """Per cell what its runs are judged by (a text's best val loss, a recall task's accuracy) ±95%, how their
    val loss (recall: accuracy) changed over the last quarter of training ±95%, and whether the cell was
    still learning."""
    headers, rows = setting_columns(cells)
    quality = quality_of(cells[0])
    values = []
    for cell in cells:
        found = learning(cell)
        values.append([plus_minus(*mean_interval(cell.values(quality.field))),
                       plus_minus(found.change, found.half_width, "+"), found.verdict])  # fmt: skip
    titles = [quality.name, f"Δ {quality.curve_name}, last quarter", "learning"]
    return headers + titles, [row + v for row, v in zip(rows, values, strict=True)]


def focus_rows(cells: list[Cell]) -> tuple[list[str], list[list[str]]] | None:
    """Where attention looked at the last validation (mean over layers), per cell; None: no run logged it."""
    if not any(c.values("attention_next") for c in cells):
        return None
    headers, rows = setting_columns(cells)
    values = [[mean_std_text(c.values(focus_on(kind.name))) for kind in FOCUS_KINDS] for c in cells]
    titles = [kind.label for kind in FOCUS_KINDS]
    return headers + titles, [row + v for row, v in zip(rows, values, strict=True)]


def focus_on(kind: str) -> Callable[[RunSummary], float]:
    """A run's weight on the `kind` of tags.FOCUS_KINDS at its last validation (NaN: not logged)."""
    return lambda run: run.attention.get(kind, math.nan)


def position_rows(cells: list[Cell]) -> tuple[list[str], list[list[str]]] | None:
    """The val loss and the val loss at each logged position of the window, per cell (mean ± 95% t-interval
    over seeds); None: no run logged it."""
    positions = sorted({p for c in cells for p in c.positions})
    if not positions:
        return None
    headers, rows = setting_columns(cells)
    values = [
        [plus_minus(*mean_interval(c.values("best_val_loss"))),
         *(plus_minus(*mean_interval(c.at_position(p))) for p in positions)]
        for c in cells
    ]
    titles = ["best val", *(f"position {p}" for p in positions)]
    return headers + titles, [row + v for row, v in zip(rows, values, strict=True)]


def plus_minus(value: float, half_width: float, sign: str = "") -> str:
    """`value ±half_width` to 3 decimals (the value alone where there is no interval, "—" for none);
    sign="+" signs it."""
    if math.isnan(value):
        return "—"
    return f"{value:{sign}.3f}" + ("" if math.isnan(half_width) else f" ±{half_width:.3f}")


def cells_learning(effect: Effect) -> str:
    """"still learning" where a cell the effect compares still improved over its last quarter (the effect
    is then about the budget), else "getting worse" where one worsened, "settled" where all settled, or
    "—" (not known)."""
    verdicts = {learning(cell).verdict for cell in effect.compared}
    found = [verdict for verdict in (STILL_LEARNING, WORSENING) if verdict in verdicts]
    return found[0] if found else SETTLED if verdicts == {SETTLED} else "—"


def effect_rows(found: list[Effect]) -> tuple[list[str], list[list[str]]]:
    headers = ["effect", "where", "measure", "Δ ± 95% CI", "verdict", "cells"]
    return headers, [[e.effect, e.where, e.measure, plus_minus(e.difference, e.half_width, "+"), e.verdict,
                      cells_learning(e)] for e in found]  # fmt: skip


def render(title: str, headers: list[str], rows: list[list[str]], fmt: str) -> str:
    """A table as Markdown or as plain aligned columns (never truncated: long lines stay whole)."""
    if fmt == "markdown":
        lines = [f"**{title}**", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(map(len, column)) for column in zip(headers, *rows, strict=True)]
    aligned = [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in [headers, *rows]
    ]
    return "\n".join([title, *aligned[:1], "  ".join("-" * w for w in widths), *aligned[1:]])


def print_table(title: str, headers: list[str], rows: list[list[str]], fmt: str) -> None:
    """`fmt` rich: a rich table whose cells wrap at spaces instead of being cut with "…"."""
    if fmt != "rich":
        print(render(title, headers, rows, fmt) + "\n")
        return
    table = Table(title=title, title_justify="left")
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console().print(table)
