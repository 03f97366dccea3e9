"""Compare the runs of a sweep over seeds: `python -m attention_lab.report log_dir=logs/<sweep dir>`
(conf/report.yaml: log_dir, out, format).

Runs that differ only by seed form a cell (runs.py, stats.py). The report prints per cell the mean ± std over
seeds of each loss; where the runs logged them, where attention looked and the val loss at each position of
the window (mean ± 95% t-interval); for a sweep over attention variants, a table of loss, speed and KV-cache
size per variant (generation_speed.py), or for recall runs their accuracy against memory (recall.py);
then the effects: the mask (non-causal minus causal, per dropout), dropout
(per placement, against none), the context (the loss at the window's last position minus its first) and
the position encodings, each with a 95% t-interval from the per-seed values and a verdict against seed noise
(tables.py). plot.py draws the figure.
"""

from __future__ import annotations

import sys
from pathlib import Path

from attention_lab.report.generation_speed import compares_variants, variant_speed_table
from attention_lab.report.plot import plot_report, report_figure
from attention_lab.report.recall import recall_cells, recall_figure, recall_rows
from attention_lab.report.runs import load_runs
from attention_lab.report.stats import Cell, effects, group_cells
from attention_lab.report.tables import cell_rows, effect_rows, focus_rows, position_rows, print_table

__all__ = ["load_runs", "report", "report_tables"]


Table = tuple[str, list[str], list[list[str]]]  # title, column headers, rows
EFFECTS = "effects: differences ±95% t-interval over seeds (Welch's for two cells)"


def report_tables(cells: list[Cell], name: str) -> list[Table]:
    """The report's tables of `cells` (the runs of the sweep `name`), in the order it prints them."""
    runs = sum(len(c.runs) for c in cells)
    title = f"{name}: {runs} runs in {len(cells)} cells, mean ±std over seeds (n = seeds)"
    tables = [(title, *cell_rows(cells))]
    if (focus := focus_rows(cells)) is not None:
        where = "attention at the last validation: the mean weight a query puts on each token, over layers"
        tables.append((where, *focus))
    if (by_position := position_rows(cells)) is not None:
        where = "val loss by position in the window (at the best validation), mean ±95% t-interval over seeds"
        tables.append((where, *by_position))
    if (recall := recall_rows(cells)) is not None:
        where = "recall: the share of questions answered right (mean ±95% t-interval over seeds) and memory"
        tables.append((where, *recall))
    elif compares_variants(cells):  # generation speed: of text models
        tables.append(variant_speed_table(cells))
    if found := effects(cells):
        tables.append((EFFECTS, *effect_rows(found)))
    return tables


def report(log_dir: str | Path, out: str | Path | None = None, fmt: str = "auto") -> Path:
    """Print the tables of the sweep under `log_dir`, write the PNG; returns its path."""
    if fmt == "auto":  # a terminal gets rich's box drawing; a pipe or a file gets Markdown
        fmt = "rich" if sys.stdout.isatty() else "markdown"
    cells = group_cells(load_runs(log_dir))
    name = Path(log_dir).resolve().name
    tables = report_tables(cells, name)
    for table in tables:
        print_table(*table, fmt)
    if tables[-1][0] != EFFECTS:  # the effects come last, where any were found
        print("effects: none (no two cells differ only by the mask, the dropout or the positions)\n")
    figure = recall_figure if recall_cells(cells) else report_figure
    return plot_report(cells, Path(out) if out else Path(log_dir) / "report.png", name, figure)
