"""The runs of a sweep, read back: every directory under the report's `log_dir` that holds TensorBoard event
files is one run; its settings and axes (attention_lab.run_record.RunAxes) come from its config.yaml
(attention_lab.training.run_folder.Run), its losses from the scalars, read with tensorboard's
EventAccumulator."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from attention_lab import tags
from attention_lab.attention import VARIANTS
from attention_lab.errors import ConfigError, refusal
from attention_lab.report.quality import QUALITY, Quality
from attention_lab.run_record import CONFIG_FILE, EVENTS_GLOB, RunAxes
from attention_lab.settings import TrainSettings
from attention_lab.training.run_folder import Run

Curve = list[tuple[int, float]]  # (global step, value)


@dataclass(frozen=True)
class RunSummary:
    """One run's axes, numbers and the curves behind them. Losses are NaN where the run logged none."""

    name: str  # the run directory relative to the report's root, e.g. mha-causal-p0.1-s1/version_0
    axes: RunAxes
    quality: Quality  # what the run is judged by: its data kind's
    final_train_loss: float  # mean train loss of the last epoch (dropout active, as it trained)
    final_val_loss: float
    best_val_loss: float
    val_loss_causal: float  # last validation loss with the causal mask forced on: compare with final_val_loss
    gap: float  # final val loss − final train loss: how much the model overfits
    train_curve: Curve
    val_curve: Curve
    val_causal_curve: Curve
    train_tokens_per_sec: float = math.nan  # over the time in training steps
    accuracy: float = math.nan  # the share of scored targets predicted right (recall: questions), last
    accuracy_curve: Curve = field(default_factory=list)
    train_time: Curve = field(default_factory=list)  # seconds spent in training steps, by step
    version_dir: Path | None = None  # where the events (and checkpoints/) are
    finished: bool = True  # it reached trainer.max_steps with finite val losses (not: diverged or killed)
    settings: TrainSettings | None = None  # as the run saved them (config.yaml)
    # Where attention looked at the last validation, mean over layers, per tags.FOCUS_KINDS name (none where
    # the run logged none), and the weight on the next token (the leak) at every validation.
    attention: dict[str, float] = field(default_factory=dict)
    next_token_curve: Curve = field(default_factory=list)
    # The val loss at positions 1, 2, 4, … of the window at the best validation; empty where not logged or
    # where the validation windows' stride was not 1 (then each position predicts other tokens).
    loss_by_position: dict[int, float] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        """The optimizer steps before its last validation (0: it validated never)."""
        return self.val_curve[-1][0] + 1 if self.val_curve else 0

    @property
    def attention_next(self) -> float:
        """The weight a query put on the token it must predict at the last validation (NaN: not logged)."""
        return self.attention.get(tags.NEXT_TOKEN, math.nan)


def find_version_dirs(log_dir: Path) -> list[Path]:
    """The runs under (or at) `log_dir`: directories with TensorBoard event files and the settings train.py
    saves beside them (not the report's cell runs), sorted."""
    return sorted({path.parent for path in log_dir.rglob(EVENTS_GLOB)
                   if path.is_file() and (path.parent / CONFIG_FILE).is_file()})  # fmt: skip


def load_run(version_dir: Path, root: Path) -> RunSummary:
    saved = Run.load(version_dir)
    data = saved.settings.data
    accumulator = EventAccumulator(str(version_dir), size_guidance={"scalars": 0})  # 0 = keep every point
    accumulator.Reload()
    scalar_tags = set(accumulator.Tags()["scalars"])

    def curve(tag: str) -> Curve:
        return [(e.step, e.value) for e in accumulator.Scalars(tag)] if tag in scalar_tags else []

    def last(points: Curve) -> float:
        return points[-1][1] if points else math.nan

    train, val, val_causal = curve(tags.TRAIN_LOSS), curve(tags.VAL_LOSS), curve(tags.VAL_LOSS_CAUSAL)
    seconds = curve(tags.TRAIN_SECONDS)
    planned = (saved.settings.trainer.model_extra or {}).get("max_steps", -1)
    reached = max((points[-1][0] + 1 for points in (train, val, seconds) if points), default=0)
    finished = (planned in (None, -1) or reached >= planned) and not any(math.isnan(v) for _, v in val)
    # The epoch mean LitGPT logs at each validation end; the last step's loss if the run has none.
    epoch_train = curve(tags.EPOCH_TRAIN_LOSS)
    final_train = last(epoch_train) if epoch_train else last(train)
    focus = {kind.name: layer_mean(accumulator, scalar_tags, kind.name) for kind in tags.FOCUS_KINDS}
    return RunSummary(
        name=version_dir.relative_to(root).as_posix() if version_dir != root else version_dir.name,
        axes=saved.axes,
        quality=QUALITY[data.kind],  # the one place the report asks the data kind
        final_train_loss=final_train,
        final_val_loss=last(val),
        best_val_loss=min((v for _, v in val if not math.isnan(v)), default=math.nan),
        val_loss_causal=last(val_causal),
        gap=last(val) - final_train,
        train_curve=train,
        val_curve=val,
        val_causal_curve=val_causal,
        train_tokens_per_sec=train_tokens_per_sec(curve(tags.TOKENS_SEEN), seconds),
        accuracy=last(curve(tags.VAL_ACCURACY)),
        accuracy_curve=curve(tags.VAL_ACCURACY),
        train_time=seconds,
        version_dir=version_dir,
        finished=finished,
        settings=saved.settings,
        attention={name: last(points) for name, points in focus.items() if points},
        next_token_curve=focus[tags.NEXT_TOKEN],
        loss_by_position=loss_by_position(accumulator, scalar_tags, best_step(val))
        if data.positions_compare_contexts
        else {},
    )


def loss_by_position(
    accumulator: EventAccumulator, scalar_tags: set[str], best: int | None
) -> dict[int, float]:
    """Position → its val_loss_by_position/position_<p> at the validation of the best val loss (`best`: its
    step), in the order of positions: the model at its best, before it overfits."""
    prefix = tags.POSITION.format("")
    found = {int(tag.removeprefix(prefix)): tag for tag in scalar_tags if tag.startswith(prefix)}
    if best is None:
        return {}
    at_best = {p: [e.value for e in accumulator.Scalars(tag) if e.step == best] for p, tag in found.items()}
    return {p: values[-1] for p, values in sorted(at_best.items()) if values}


def best_step(val: Curve) -> int | None:
    """The step of the lowest val loss (the first, if several), or None without validations."""
    return min(val, key=lambda point: point[1])[0] if val else None


def layer_mean(accumulator: EventAccumulator, scalar_tags: set[str], kind: str) -> Curve:
    """The curve of val_attention/<kind>/layer_<i>, averaged over the layers at each step."""
    layers = [tag for tag in scalar_tags if tag.startswith(tags.FOCUS.format(kind, ""))]
    by_step: dict[int, list[float]] = {}
    for tag in layers:
        for event in accumulator.Scalars(tag):
            by_step.setdefault(event.step, []).append(event.value)
    return [(step, sum(values) / len(values)) for step, values in sorted(by_step.items())]


def train_tokens_per_sec(tokens_seen: list[tuple[int, float]], train_time: list[tuple[int, float]]) -> float:
    """Training tokens per second of the whole run: the last `train/tokens_seen` over the last `train/seconds`
    (training steps only, not validation); NaN without them."""
    if not tokens_seen or not train_time or train_time[-1][1] <= 0:
        return math.nan
    return tokens_seen[-1][1] / train_time[-1][1]


def chapter_order() -> dict[str, int]:
    """Each variant's place in the registry's order: the chapter's (simple … mha), mha's other
    implementations, those beyond the chapter, the baselines."""
    return {name: place for place, name in enumerate(VARIANTS)}


def load_runs(log_dir: str | Path) -> list[RunSummary]:
    """Every run under `log_dir`, in the order of their axes (RunAxes.sort_key: the variants in the
    chapter's order, causal first, then by dropout, ..., seed)."""
    root = Path(log_dir)
    if not root.is_dir():
        reason = "it must be an existing directory, a sweep's folder, e.g. logs/mask_dropout_verdict_tiny"
        raise ConfigError(refusal("log_dir", root, reason))
    version_dirs = find_version_dirs(root)
    if not version_dirs:
        raise ConfigError(
            f"log_dir={str(root)!r} holds no TensorBoard runs: no {EVENTS_GLOB} files found. "
            "Train first, e.g. `python train.py sweep=mask_dropout`, then report on "
            "logs/mask_dropout_verdict_tiny"
        )
    runs = [load_run(version_dir, root) for version_dir in version_dirs]
    order = chapter_order()
    return sorted(runs, key=lambda r: (r.axes.sort_key(order), r.name))
