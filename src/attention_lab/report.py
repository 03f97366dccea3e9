"""Compare the runs of a sweep over seeds: `python -m attention_lab.report logs/<sweep dir>`.

Settings in conf/report.yaml (log_dir, out, format).

Every directory under `log_dir` that holds TensorBoard event files is one run; its settings (variant,
causal, dropout, seed) come from the HParams data TensorBoardExtras writes, its losses from the scalars, both
read with tensorboard's EventAccumulator. Runs that differ only by seed form a cell. The report prints per
cell the mean ± std over seeds of each loss; for a sweep over attention variants, a table of loss, speed
and KV-cache size per variant (report_variants.py); then the effects: the mask (non-causal minus causal, per
dropout) and dropout (p minus 0, per mask setting), each a difference of cell means with a 95% Welch
t-interval from the per-seed values and a verdict against seed noise. report_plot.py draws the PNG.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from attention_lab.config import hydra_command
from attention_lab.errors import ConfigError
from attention_lab.report_stats import METRICS, Cell, Effect, effects, group_cells, mean_std
from attention_lab.report_variants import has_variants, train_tokens_per_sec, variants_table

if TYPE_CHECKING:  # tensorboard is imported where events are read
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

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
    pos_emb: str = "learned"  # model.pos_emb: learned, or none (word order only through the mask)
    train_tokens_per_sec: float = math.nan  # over the time in training steps
    run_dir: Path | None = None  # where the events (and checkpoints/) are


def find_run_dirs(log_dir: Path) -> list[Path]:
    """Directories under (or equal to) `log_dir` that contain TensorBoard event files, sorted."""
    return sorted({path.parent for path in log_dir.rglob(EVENT_FILE_GLOB) if path.is_file()})


def read_hparams(accumulator: EventAccumulator) -> dict[str, object]:
    """The hparams of the run's HParams session (empty when the run wrote none)."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    try:
        content = accumulator.PluginTagToContent("hparams").get("_hparams_/session_start_info")
    except KeyError:  # no HParams data at all (callbacks.tensorboard_extras=null)
        return {}
    if content is None:
        return {}
    start = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    return {name: getattr(value, value.WhichOneof("kind")) for name, value in start.hparams.items()}


def as_bool(value: object) -> bool | None:
    """A causal flag as the HParams plugin stores it: a bool, a number 0/1 or a string "true"/"false"."""
    if value is None:
        return None
    return value.lower() == "true" if isinstance(value, str) else bool(value)


# The settings a run is grouped by: their name in the HParams row → their key in the run's config.yaml.
SETTINGS = {
    "variant": "attention.name",
    "causal": "attention.causal",
    "dropout": "attention.dropout",
    "seed": "seed",
    "pos_emb": "model.pos_emb",
}


def read_settings(hparams: dict[str, object], run_dir: Path) -> dict[str, object]:
    """The run's SETTINGS from its HParams row, those missing there (a run without the HParams callback,
    or from before pos_emb was in the row) from the config.yaml train.py saves beside the events."""
    settings = {name: hparams[name] for name in SETTINGS if name in hparams}
    saved = run_dir / "config.yaml"
    if len(settings) < len(SETTINGS) and saved.is_file():
        from omegaconf import OmegaConf

        config = OmegaConf.load(saved)
        for name, key in SETTINGS.items():
            if name not in settings:
                settings[name] = OmegaConf.select(config, key, default=None)
    return settings


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
    settings = read_settings(read_hparams(accumulator), run_dir)
    dropout, seed = settings.get("dropout"), settings.get("seed")
    return RunSummary(
        name=run_dir.relative_to(root).as_posix() if run_dir != root else run_dir.name,
        variant=settings.get("variant"),
        causal=as_bool(settings.get("causal")),
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
        pos_emb=str(settings.get("pos_emb") or "learned"),
        train_tokens_per_sec=train_tokens_per_sec(curve("train/tokens_seen"), curve("train/time")),
        run_dir=run_dir,
    )


def chapter_order(variants: set[str | None]) -> dict[str, int]:
    """Each variant's place in the chapter's order (simple … mha, then sdpa and those beyond the chapter).
    Needed only to sort several variants; for one, the models (and torch) are not imported."""
    if len(variants) < 2:
        return {}
    from attention_lab.attention import VARIANTS

    return {name: place for place, name in enumerate(VARIANTS)}


def load_runs(log_dir: str | Path) -> list[RunSummary]:
    """Every run under `log_dir`, sorted by variant (in the chapter's order), causal first, then dropout,
    then seed."""
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
    order = chapter_order({r.variant for r in runs})
    return sorted(
        runs,
        key=lambda r: (
            order.get(r.variant, len(order)),
            r.variant or "",
            r.pos_emb != "learned",
            not r.causal,
            r.dropout or 0.0,
            r.seed or 0,
            r.name,
        ),
    )


# --- output ---------------------------------------------------------------------------------------------
def mean_std_text(values: list[float], digits: int = 3) -> str:
    """ "6.712 ±0.013" (mean ± std over seeds); the mean alone for one seed; "—" for none."""
    mean, std = mean_std(values)
    if math.isnan(mean):
        return "—"
    return f"{mean:,.{digits}f}" + ("" if math.isnan(std) else f" ±{std:,.{digits}f}")


def cell_rows(cells: list[Cell]) -> tuple[list[str], list[list[str]]]:
    with_positions = any(c.pos_emb != "learned" for c in cells)  # a column only where runs differ by it
    headers = ["variant", *(["positions"] if with_positions else []), "mask", "p", "n"]
    headers += [title for title, _ in METRICS]
    rows = []
    for c in cells:
        mask = "—" if c.causal is None else "causal" if c.causal else "none"
        p = "—" if c.dropout is None else f"{c.dropout:g}"
        losses = [mean_std_text(c.values(field)) for _, field in METRICS]
        positions = [c.pos_emb] if with_positions else []
        rows.append([c.variant or "—", *positions, mask, p, str(len(c.runs)), *losses])
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
    if has_variants(cells):
        print_table(*variants_table(cells), fmt)
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
