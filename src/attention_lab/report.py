"""Compare the runs of a sweep over seeds: `python -m attention_lab.report logs/<sweep dir>`.

Settings in conf/report.yaml (log_dir, out, format).

Every directory under `log_dir` that holds TensorBoard event files is one run; its settings (variant,
causal, dropout, seed) come from the HParams data TensorBoardExtras writes, its losses from the scalars, both
read with tensorboard's EventAccumulator. Runs that differ only by seed form a cell. The report prints per
cell the mean ± std over seeds of each loss, then the effects: the mask (non-causal minus causal, per
dropout) and dropout (p minus 0, per mask setting), each a difference of cell means with a 95% Welch
t-interval from the per-seed values and a verdict against seed noise. report_plot.py draws the PNG.
"""

from __future__ import annotations

import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from attention_lab.config import hydra_command
from attention_lab.errors import ConfigError

EVENT_FILE_GLOB = "events.out.tfevents.*"
Curve = list[tuple[int, float]]  # (global step, value)
FORMATS = ("auto", "rich", "markdown", "plain")


@dataclass(frozen=True)
class RunSummary:
    """One run's numbers and the curves behind them. Losses are NaN where the run logged none."""

    name: str  # the run directory relative to the report's root, e.g. mha-causal-p0.1-s1/version_0
    variant: str | None
    causal: bool | None
    dropout: float | None
    seed: int | None
    final_train_loss: float  # mean train loss of the last epoch (dropout active, as it trained)
    final_val_loss: float
    best_val_loss: float
    val_loss_causal: float  # last validation loss with the causal mask forced on: compare with final_val_loss
    gap: float  # final val loss − final train loss: how much the model overfits
    train_curve: Curve
    val_curve: Curve
    val_causal_curve: Curve


def find_run_dirs(log_dir: Path) -> list[Path]:
    """Directories under (or equal to) `log_dir` that contain TensorBoard event files, sorted."""
    return sorted({path.parent for path in log_dir.rglob(EVENT_FILE_GLOB) if path.is_file()})


def read_hparams(accumulator) -> dict[str, object]:
    """The hparams of the run's HParams session (empty when the run wrote none)."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = accumulator.PluginTagToContent("hparams").get("_hparams_/session_start_info")
    if content is None:
        return {}
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    return {name: getattr(value, value.WhichOneof("kind")) for name, value in start.hparams.items()}


def as_bool(value: object) -> bool | None:
    """A causal flag as the HParams plugin stores it: a bool, a number 0/1 or a string "true"/"false"."""
    if value is None:
        return None
    return value.lower() == "true" if isinstance(value, str) else bool(value)


def load_run(run_dir: Path, root: Path) -> RunSummary:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})  # 0 = keep every point
    accumulator.Reload()
    scalar_tags = set(accumulator.Tags()["scalars"])

    def curve(tag: str) -> Curve:
        return [(e.step, e.value) for e in accumulator.Scalars(tag)] if tag in scalar_tags else []

    def last(points: Curve) -> float:
        return points[-1][1] if points else math.nan

    train, val, val_causal = curve("train/loss"), curve("val/loss"), curve("val/loss_causal")
    # The epoch mean LitGPT logs at each validation end; the last step's loss if the run has none.
    final_train = last(curve("hparams/train_loss")) if "hparams/train_loss" in scalar_tags else last(train)
    hparams = read_hparams(accumulator)
    dropout, seed = hparams.get("dropout"), hparams.get("seed")
    return RunSummary(
        name=run_dir.relative_to(root).as_posix() if run_dir != root else run_dir.name,
        variant=hparams.get("variant"),
        causal=as_bool(hparams.get("causal")),
        dropout=None if dropout is None else float(dropout),
        seed=None if seed is None else int(seed),
        final_train_loss=final_train,
        final_val_loss=last(val),
        best_val_loss=min((v for _, v in val), default=math.nan),
        val_loss_causal=last(val_causal),
        gap=last(val) - final_train,
        train_curve=train,
        val_curve=val,
        val_causal_curve=val_causal,
    )


def load_runs(log_dir: str | Path) -> list[RunSummary]:
    """Every run under `log_dir`, sorted by variant, causal first, then dropout, then seed."""
    root = Path(log_dir)
    if not root.is_dir():
        raise ConfigError(f"log_dir={str(root)!r} does not exist; give the folder of a sweep, e.g. logs/")
    run_dirs = find_run_dirs(root)
    if not run_dirs:
        raise ConfigError(
            f"log_dir={str(root)!r} holds no TensorBoard runs: no {EVENT_FILE_GLOB} files found. "
            "Train first, e.g. `python train.py sweep=mask_dropout`, then report on logs/mask_dropout_tiny"
        )
    runs = [load_run(run_dir, root) for run_dir in run_dirs]
    return sorted(runs, key=lambda r: (r.variant or "", not r.causal, r.dropout or 0.0, r.seed or 0, r.name))


# --- aggregation over seeds -----------------------------------------------------------------------------
# (column title, RunSummary field) of the losses a cell averages over its seeds.
METRICS = (
    ("train", "final_train_loss"),
    ("val", "final_val_loss"),
    ("best val", "best_val_loss"),
    ("val causal-mask", "val_loss_causal"),
    ("gap val−train", "gap"),
)


@dataclass(frozen=True)
class Cell:
    """The runs of one setting (variant, causal, dropout) that differ only by seed."""

    variant: str | None
    causal: bool | None
    dropout: float | None
    runs: tuple[RunSummary, ...]

    def values(self, field: str) -> list[float]:
        """The per-seed values of a RunSummary field, NaNs left out."""
        return [v for v in (getattr(r, field) for r in self.runs) if not math.isnan(v)]


def group_cells(runs: list[RunSummary]) -> list[Cell]:
    """Cells in the order of `runs` (load_runs sorts them: causal first, then by dropout)."""
    cells: dict[tuple, list[RunSummary]] = {}
    for run in runs:
        cells.setdefault((run.variant, run.causal, run.dropout), []).append(run)
    return [Cell(*key, runs=tuple(members)) for key, members in cells.items()]


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (NaN with fewer than 2 values)."""
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else math.nan


# Two-sided 95% quantiles of Student's t for 1..10 degrees of freedom, then 20, 30 and the normal limit.
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def t_975(df: float) -> float:
    """The t quantile for `df` degrees of freedom, rounded down to a tabulated df (the wider interval)."""
    whole = max(1, math.floor(df))
    return T_975.get(whole) or (
        2.228 if whole < 20 else 2.086 if whole < 30 else 2.042 if whole < 120 else 1.96
    )


@dataclass(frozen=True)
class Effect:
    """A difference of cell means, mean(a) − mean(b), with the half-width of its 95% Welch t-interval."""

    effect: str  # "mask" or "dropout"
    where: str  # the setting held fixed, e.g. "p=0.1" or "causal, p=0.3 vs 0"
    measure: str  # e.g. "Δ val loss (non-causal − causal)"
    difference: float
    half_width: float  # NaN when a side has a single seed: no interval

    @property
    def verdict(self) -> str:
        if math.isnan(self.half_width):
            return "one seed: no interval"
        return "exceeds seed spread" if abs(self.difference) > self.half_width else "within seed noise"


def welch_difference(a: list[float], b: list[float]) -> tuple[float, float]:
    """mean(a) − mean(b) and the half-width of its 95% Welch t-interval (NaN with < 2 values a side)."""
    difference = statistics.fmean(a) - statistics.fmean(b)
    if len(a) < 2 or len(b) < 2:
        return difference, math.nan
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    se = math.sqrt(va + vb)
    if se == 0.0:
        return difference, 0.0
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))  # Welch–Satterthwaite
    return difference, t_975(df) * se


def effects(cells: list[Cell]) -> list[Effect]:
    """The mask effect per (variant, dropout) and the dropout effect per (variant, mask) and p > 0."""
    by_key = {(c.variant, c.causal, c.dropout): c for c in cells}
    found: list[Effect] = []

    def add(effect: str, where: str, measure: str, a: Cell, b: Cell, field: str) -> None:
        if a.values(field) and b.values(field):
            found.append(Effect(effect, where, measure, *welch_difference(a.values(field), b.values(field))))

    for variant, causal, dropout in by_key:
        other = by_key.get((variant, False, dropout))
        if causal is True and other is not None:
            cell, where = by_key[(variant, True, dropout)], f"{variant}, p={dropout:g}"
            add("mask", where, "Δ val loss (non-causal − causal)", other, cell, "final_val_loss")
            add("mask", where, "Δ val causal-mask (non-causal − causal)", other, cell, "val_loss_causal")
    for variant, causal, dropout in by_key:
        baseline = by_key.get((variant, causal, 0.0))
        if dropout and baseline is not None:
            cell = by_key[(variant, causal, dropout)]
            where = f"{variant}, {'causal' if causal else 'non-causal'}, p={dropout:g} vs 0"
            add("dropout", where, "Δ best val (p − 0)", cell, baseline, "best_val_loss")
            add("dropout", where, "Δ final val (p − 0)", cell, baseline, "final_val_loss")
            add("dropout", where, "Δ gap val−train (p − 0)", cell, baseline, "gap")
    return found


# --- output ---------------------------------------------------------------------------------------------
def mean_std_text(values: list[float]) -> str:
    """ "6.712 ±0.013" (mean ± std over seeds); the mean alone for one seed; "—" for none."""
    mean, std = mean_std(values)
    if math.isnan(mean):
        return "—"
    return f"{mean:.3f}" if math.isnan(std) else f"{mean:.3f} ±{std:.3f}"


def cell_rows(cells: list[Cell]) -> tuple[list[str], list[list[str]]]:
    headers = ["variant", "mask", "p", "n", *(title for title, _ in METRICS)]
    rows = []
    for c in cells:
        mask = "—" if c.causal is None else "causal" if c.causal else "none"
        p = "—" if c.dropout is None else f"{c.dropout:g}"
        losses = [mean_std_text(c.values(field)) for _, field in METRICS]
        rows.append([c.variant or "—", mask, p, str(len(c.runs)), *losses])
    return headers, rows


def effect_rows(found: list[Effect]) -> tuple[list[str], list[list[str]]]:
    headers = ["effect", "where", "measure", "Δ ± 95% CI", "verdict"]
    rows = []
    for e in found:
        interval = f"{e.difference:+.3f}" + ("" if math.isnan(e.half_width) else f" ±{e.half_width:.3f}")
        rows.append([e.effect, e.where, e.measure, interval, e.verdict])
    return headers, rows


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
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for header in headers:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console().print(table)


def report(log_dir: str | Path, out: str | Path | None = None, fmt: str = "auto") -> Path:
    """Print the cell and effect tables of the sweep under `log_dir`, write the PNG; returns its path."""
    from attention_lab.report_plot import plot_report

    if fmt not in FORMATS:
        raise ConfigError(f"format={fmt!r} is not allowed; choose one of {', '.join(FORMATS)}")
    if fmt == "auto":  # a terminal gets rich's box drawing; a pipe or a file gets Markdown
        fmt = "rich" if sys.stdout.isatty() else "markdown"
    runs = load_runs(log_dir)
    cells = group_cells(runs)
    name = Path(log_dir).resolve().name
    title = f"{name}: {len(runs)} runs in {len(cells)} cells, mean ±std over seeds (n = seeds)"
    print_table(title, *cell_rows(cells), fmt)
    found = effects(cells)
    if found:
        print_table(
            "effects: difference of cell means ±95% Welch t-interval over seeds", *effect_rows(found), fmt
        )
    else:
        print("effects: none (no two cells differ only by the mask, or only by dropout p vs 0)\n")
    return plot_report(cells, Path(out) if out else Path(log_dir) / "report.png", name)


@hydra_command("report")
def main(cfg: DictConfig) -> None:
    if cfg.log_dir is None:
        raise ConfigError("log_dir= is required: the folder of a sweep, e.g. log_dir=logs/mask_dropout_tiny")
    from attention_lab.checks import validate_report

    validate_report(cfg)
    print(f"loss curves: {report(str(cfg.log_dir), cfg.out, str(cfg.format))}")


if __name__ == "__main__":
    # `python -m attention_lab.report logs/x` is shorthand for `... log_dir=logs/x`.
    sys.argv[1:] = [a if "=" in a or a.startswith("-") else f"log_dir={a}" for a in sys.argv[1:]]
    main()
