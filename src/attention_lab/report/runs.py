"""The runs of a sweep, read back: every directory under the report's `log_dir` that holds TensorBoard event
files is one run; its settings (variant, causal, dropout, seed, positions) come from the HParams data
TensorBoardExtras writes (or the run's config.yaml), its losses from the scalars, both read with
tensorboard's EventAccumulator."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from attention_lab.errors import ConfigError, refusal

if TYPE_CHECKING:  # tensorboard is imported where events are read
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

EVENT_FILE_GLOB = "events.out.tfevents.*"
Curve = list[tuple[int, float]]  # (global step, value)


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


def train_tokens_per_sec(tokens_seen: list[tuple[int, float]], train_time: list[tuple[int, float]]) -> float:
    """Training tokens per second of the whole run: the last `train/tokens_seen` over the last `train/time`
    (Lightning's ThroughputMonitor, which counts training steps only, not validation); NaN without them."""
    if not tokens_seen or not train_time or train_time[-1][1] <= 0:
        return math.nan
    return tokens_seen[-1][1] / train_time[-1][1]


def chapter_order(variants: set[str | None]) -> dict[str, int]:
    """Each variant's place in the chapter's order (simple … mha, then sdpa and those beyond the chapter).
    Needed only to sort several variants; for one, the models (and torch) are not imported."""
    if len(variants) < 2:
        return {}
    from attention_lab.attention import VARIANTS  # imports torch: only for a report over several variants

    return {name: place for place, name in enumerate(VARIANTS)}


def load_runs(log_dir: str | Path) -> list[RunSummary]:
    """Every run under `log_dir`, sorted by variant (in the chapter's order), causal first, then dropout,
    then seed."""
    root = Path(log_dir)
    if not root.is_dir():
        reason = "it must be an existing directory, the folder of a sweep, e.g. logs/mask_dropout_tiny"
        raise ConfigError(refusal("log_dir", root, reason))
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
