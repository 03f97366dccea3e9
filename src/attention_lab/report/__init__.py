"""Compare the runs of a sweep over seeds: `python -m attention_lab.report log_dir=logs/<sweep dir>`
(conf/report.yaml: log_dir, out, format, figure, generation_speed). `log_dir=[<dir>,<dir>]` lays the runs of
several folders side by side, e.g. a sweep on each corpus: the data set is one of the axes that tell cells
apart.

Runs that differ only by seed form a cell (runs.py, stats.py). The report prints per cell the mean ± std over
seeds of each loss; where the runs logged them, where attention looked and the val loss at each position of
the window (mean ± 95% t-interval); for a sweep over attention variants, what each achieves (recall accuracy,
or best val loss) against the memory it keeps per sequence (memory.py) and, on a text, a table of loss,
speed and KV-cache size per variant (generation_speed.py);
then the effects: the mask (non-causal minus causal, per dropout), dropout
(per placement, against none), the context (the loss at the window's last position minus its first) and
the position encodings, each with a 95% t-interval from the per-seed values and a verdict against seed noise
(tables.py). plot.py draws the figure: the curves, or (figure=memory, the default for recall runs) quality
against memory.
"""

from __future__ import annotations

import sys
from pathlib import Path

from attention_lab.errors import ConfigError, refusal
from attention_lab.report.budget import budget_tables
from attention_lab.report.cell_runs import write_cell_runs
from attention_lab.report.generation_speed import compares_variants, variant_speed_table
from attention_lab.report.learning import quality_of
from attention_lab.report.memory import memory_figure, memory_rows
from attention_lab.report.plot import plot_report, report_figure
from attention_lab.report.quality import REFERENCE
from attention_lab.report.results import write_results
from attention_lab.report.runs import load_runs
from attention_lab.report.stats import Cell, Effect, effects, group_cells
from attention_lab.report.tables import (
    cell_rows,
    effect_rows,
    focus_rows,
    learning_rows,
    position_rows,
    print_table,
)

__all__ = ["as_list", "draws_memory", "load_cells", "load_runs", "report", "report_tables"]


Table = tuple[str, list[str], list[list[str]]]  # title, column headers, rows
EFFECTS = "effects: differences ±95% t-interval over seeds (Welch's for two cells)"


FIGURES = ("auto", "curves", "memory")
Folders = str | Path | list[str | Path]


def as_list(log_dir: Folders) -> list[str | Path]:
    """`log_dir` as a list of folders: one folder, or several laid side by side."""
    return [log_dir] if isinstance(log_dir, str | Path) else list(log_dir)


def load_cells(log_dir: Folders) -> tuple[list[Cell], list[Path], str]:
    """The cells of the runs under `log_dir` (one folder, or several laid side by side, each once), the
    folders and the report's name (theirs, joined by " + ")."""
    folders = list(dict.fromkeys(Path(d) for d in as_list(log_dir)))  # given twice would double its seeds
    if not folders:
        reason = "give at least one folder of runs, e.g. logs/mask_dropout_verdict_tiny"
        raise ConfigError(refusal("log_dir", "[]", reason))
    cells = group_cells([run for folder in folders for run in load_runs(folder)])
    if len(judged := {cell.runs[0].quality.name for cell in cells}) > 1:  # one table judges them all
        reason = f"its runs are judged by different measures ({', '.join(sorted(judged))}): report them apart"
        raise ConfigError(refusal("log_dir", " ".join(map(str, folders)), reason))
    return cells, folders, " + ".join(folder.resolve().name for folder in folders)


def draws_memory(cells: list[Cell], figure: str) -> bool:
    """Whether `figure` (one of FIGURES) asks for quality against memory rather than the loss curves."""
    if figure not in FIGURES:
        raise ConfigError(refusal("figure", figure, f"it must be one of {', '.join(FIGURES)}"))
    return figure == "memory" or figure == "auto" and bool(cells) and quality_of(cells[0]).memory_by_default


def default_figure_path(folders: list[Path]) -> Path:
    """<log_dir>/report.png, or for several folders report-<a>+<b>.png beside the first."""
    if len(folders) == 1:
        return folders[0] / "report.png"
    return folders[0].parent / f"report-{'+'.join(folder.resolve().name for folder in folders)}.png"


def report_tables(cells: list[Cell], name: str, memory: bool = False, speed: bool = False,
                  found: list[Effect] | None = None) -> list[Table]:  # fmt: skip
    """The report's tables of `cells` (the runs of the sweep `name`), in the order it prints them; with
    `memory` (the memory figure, always for recall runs) what each variant achieves against its memory;
    with `speed` each text variant's generation timed from its checkpoint; `found`: the cells' effects,
    where they are computed already."""
    runs = sum(len(c.runs) for c in cells)
    title = f"{name}: {runs} runs in {len(cells)} cells, mean ±std over seeds (n = seeds)"
    tables = [(title, *cell_rows(cells))]
    if cells:
        still = ("learning: the change over the last quarter of training, mean ±95% t-interval over seeds; "
                 "still learning where it improved beyond seed noise (its numbers are a budget's), getting "
                 "worse where it worsened beyond it")
        tables.append((still, *learning_rows(cells)))
    if (focus := focus_rows(cells)) is not None:
        where = "attention at the last validation: the mean weight a query puts on each token, over layers"
        tables.append((where, *focus))
    if (by_position := position_rows(cells)) is not None:
        where = "val loss by position in the window (at the best validation), mean ±95% t-interval over seeds"
        tables.append((where, *by_position))
    if memory and (rows := memory_rows(cells)) is not None:
        where = ("quality and memory: mean ±95% t-interval over seeds at the best learning rate of each "
                 f"point; Δ vs {REFERENCE} with Welch's interval")
        tables.append((where, *rows))
    tables += budget_tables(cells)
    if speed and compares_variants(cells):
        tables.append(variant_speed_table(cells))
    if found := effects(cells) if found is None else found:
        tables.append((EFFECTS, *effect_rows(found)))
    return tables


def report(log_dir: Folders, out: str | Path | None = None, fmt: str = "auto", figure: str = "auto",
           speed: bool = False, command: str = "") -> Path:  # fmt: skip
    """Print the tables of the sweep under `log_dir` (or of several sweeps' folders, side by side), write the
    figure (`figure`: curves, memory, or auto: memory for recall runs) and beside it the results file
    (<figure>.json: tables, cells, effects, `command` and the commit), and for one folder each cell's mean
    curves as a TensorBoard run (<folder>/cells/); returns the figure's path. `speed`: time each variant's
    generation from its checkpoint too."""
    if fmt == "auto":  # a terminal gets rich's box drawing; a pipe or a file gets Markdown
        fmt = "rich" if sys.stdout.isatty() else "markdown"
    cells, folders, name = load_cells(log_dir)
    memory = draws_memory(cells, figure)
    found = effects(cells)
    tables = report_tables(cells, name, memory, speed, found)
    for table in tables:
        print_table(*table, fmt)
    if tables[-1][0] != EFFECTS:  # the effects come last, where any were found
        print("effects: none (no two cells differ only by the mask, the dropout or the positions)\n")
    drawn = memory_figure if memory else report_figure
    path = plot_report(cells, Path(out) if out else default_figure_path(folders), name, drawn)
    write_results(path.with_suffix(".json"), command, folders, cells, tables, found)
    if len(folders) == 1:
        write_cell_runs(cells, folders[0])
    return path
