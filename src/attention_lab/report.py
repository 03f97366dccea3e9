"""Compare the runs of a sweep: `python -m attention_lab.report logs/<dir> [--out curves.png]`.

Every directory under `logs/<dir>` that holds TensorBoard event files is one run. Its hparams (variant,
causal, dropout) come from the HParams plugin data that LitGPT writes, its losses from the scalars; both
are read with tensorboard's own EventAccumulator. The report is a table printed with rich and a PNG of the
loss curves overlaid: train solid, val dashed, val with the causal mask forced dotted (only where it
differs, i.e. for runs trained without the mask), one colour per run.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from attention_lab.errors import ConfigError

EVENT_FILE_GLOB = "events.out.tfevents.*"
Curve = list[tuple[int, float]]  # (global step, value)


@dataclass(frozen=True)
class RunSummary:
    """One row of the report and the curves behind it. Losses are NaN where the run logged none."""

    name: str  # the run directory relative to the report's root, e.g. mha-causal_True-drop_0.1/version_0
    variant: str | None
    causal: bool | None
    dropout: float | None
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
    if isinstance(value, str):
        return value.lower() == "true"
    return bool(value)


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
    dropout = hparams.get("dropout")
    return RunSummary(
        name=run_dir.relative_to(root).as_posix() if run_dir != root else run_dir.name,
        variant=hparams.get("variant"),
        causal=as_bool(hparams.get("causal")),
        dropout=None if dropout is None else float(dropout),
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
    """Every run under `log_dir`, sorted by variant, causal first, then dropout."""
    root = Path(log_dir)
    if not root.is_dir():
        raise ConfigError(
            f"log directory {str(root)!r} does not exist; give the folder of a sweep, e.g. logs/"
        )
    run_dirs = find_run_dirs(root)
    if not run_dirs:
        raise ConfigError(
            f"no TensorBoard runs under {str(root)!r}: no {EVENT_FILE_GLOB} files found. "
            "Train first, e.g. `python train.py sweep=mask_dropout`, then report on logs/mask_dropout_tiny"
        )
    runs = [load_run(run_dir, root) for run_dir in run_dirs]
    return sorted(runs, key=lambda r: (r.variant or "", not r.causal, r.dropout or 0.0, r.name))


# --- output ---------------------------------------------------------------------------------------------
def cell(value: object) -> str:
    """A table cell: losses to 3 decimals, dropout as given, bools lower-case, "—" for missing values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def print_table(runs: list[RunSummary], title: str, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in ("variant", "causal", "dropout"):
        table.add_column(column, no_wrap=True)
    for column in ("train loss", "val loss", "best val loss", "val loss causal-mask", "gap val−train"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("run", overflow="fold")  # the directory under the report's root
    for r in runs:
        dropout = "—" if r.dropout is None else f"{r.dropout:g}"
        losses = (r.final_train_loss, r.final_val_loss, r.best_val_loss, r.val_loss_causal, r.gap)
        table.add_row(
            cell(r.variant),
            cell(r.causal),
            dropout,
            *map(cell, losses),
            r.name,
        )
    (console or Console()).print(table)


def plot_curves(runs: list[RunSummary], path: Path, title: str) -> Path:
    """Write the overlaid loss curves of `runs` to the PNG `path`."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter

    fig = Figure(figsize=(10, 6), layout="constrained")
    ax = fig.subplots()
    palette = colormaps["tab10"]
    for i, run in enumerate(runs):
        colour = palette(i % 10)
        for points, style, width in ((run.train_curve, "-", 1.0), (run.val_curve, "--", 2.0)):
            if points:
                ax.plot(*zip(*points, strict=True), linestyle=style, color=colour, linewidth=width)
        if run.val_causal_curve and run.causal is False:
            ax.plot(*zip(*run.val_causal_curve, strict=True), linestyle=":", color=colour, linewidth=2.0)
        ax.plot([], [], color=colour, linewidth=3, label=run.name)  # one legend entry per run
    styles = [
        Line2D([], [], color="grey", linestyle="-", label="train loss"),
        Line2D([], [], color="grey", linestyle="--", linewidth=2, label="val loss"),
        Line2D([], [], color="grey", linestyle=":", linewidth=2, label="val loss, causal mask forced"),
    ]
    run_legend = ax.legend(loc="upper right", fontsize=8, title="run")
    ax.add_artist(run_legend)
    ax.legend(handles=styles, loc="lower left", fontsize=8)
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy loss")
    ax.set_yscale("log")  # a run without the mask falls far below the others; log keeps both readable
    ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m attention_lab.report",
        description="Compare the TensorBoard runs under a log directory: a table and a PNG of loss curves.",
    )
    parser.add_argument("log_dir", type=Path, help="a sweep's folder, e.g. logs/mask_dropout_small")
    parser.add_argument("--out", type=Path, help="where to write the PNG (default: <log_dir>/report.png)")
    args = parser.parse_args(argv)
    try:
        runs = load_runs(args.log_dir)
    except ConfigError as err:
        sys.exit(f"error: {err}")
    title = f"{args.log_dir.resolve().name}: {len(runs)} run{'s' if len(runs) != 1 else ''}"
    print_table(runs, title)
    png = plot_curves(runs, args.out or args.log_dir / "report.png", title)
    print(f"loss curves: {png}")


if __name__ == "__main__":
    main()
