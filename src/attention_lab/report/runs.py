"""The runs of a sweep, read back: every directory under the report's `log_dir` that holds TensorBoard event
files is one run; its axes (attention_lab.run_record.RunAxes) come from the HParams row TensorBoardExtras
writes (or the run's config.yaml), its losses from the scalars, both read with tensorboard's
EventAccumulator."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from attention_lab import tags
from attention_lab.errors import ConfigError, refusal
from attention_lab.run_record import CONFIG_FILE, EVENTS_GLOB, RunAxes

if TYPE_CHECKING:  # tensorboard is imported where events are read
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

Curve = list[tuple[int, float]]  # (global step, value)


@dataclass(frozen=True)
class RunSummary:
    """One run's axes, numbers and the curves behind them. Losses are NaN where the run logged none."""

    name: str  # the run directory relative to the report's root, e.g. mha-causal-p0.1-s1/version_0
    axes: RunAxes
    final_train_loss: float  # mean train loss of the last epoch (dropout active, as it trained)
    final_val_loss: float
    best_val_loss: float
    val_loss_causal: float  # last validation loss with the causal mask forced on: compare with final_val_loss
    gap: float  # final val loss − final train loss: how much the model overfits
    train_curve: Curve
    val_curve: Curve
    val_causal_curve: Curve
    train_tokens_per_sec: float = math.nan  # over the time in training steps
    recall_accuracy: float = math.nan  # data=recall: the share of questions answered right, last validation
    version_dir: Path | None = None  # where the events (and checkpoints/) are
    # Where attention looked at the last validation, mean over layers, per tags.FOCUS_KINDS name (none where
    # the run logged none), and the weight on the next token (the leak) at every validation.
    attention: dict[str, float] = field(default_factory=dict)
    next_token_curve: Curve = field(default_factory=list)
    # The val loss at positions 1, 2, 4, … of the window at the best validation; empty where not logged or
    # where the validation windows' stride was not 1 (then each position predicts other tokens).
    loss_by_position: dict[int, float] = field(default_factory=dict)

    @property
    def attention_next(self) -> float:
        """The weight a query put on the token it must predict at the last validation (NaN: not logged)."""
        return self.attention.get(tags.NEXT_TOKEN, math.nan)


def find_version_dirs(log_dir: Path) -> list[Path]:
    """Directories under (or equal to) `log_dir` that contain TensorBoard event files, sorted."""
    return sorted({path.parent for path in log_dir.rglob(EVENTS_GLOB) if path.is_file()})


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


def read_axes(hparams: dict[str, object], version_dir: Path) -> RunAxes:
    """The run's axes from its HParams row; those missing there (a run without the HParams callback, or
    whose row lacks some) from the config.yaml train.py saves beside the events, else their defaults."""
    found = RunAxes.from_hparams(hparams)
    saved = version_dir / CONFIG_FILE
    if len(found) < len(RunAxes.fields()) and saved.is_file():
        from omegaconf import OmegaConf

        from attention_lab.settings.run_axes import run_axes  # imports torch: only for such runs

        found = dataclasses.asdict(run_axes(OmegaConf.to_container(OmegaConf.load(saved)))) | found
    return RunAxes(**found)


def load_run(version_dir: Path, root: Path) -> RunSummary:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(version_dir), size_guidance={"scalars": 0})  # 0 = keep every point
    accumulator.Reload()
    scalar_tags = set(accumulator.Tags()["scalars"])

    def curve(tag: str) -> Curve:
        return [(e.step, e.value) for e in accumulator.Scalars(tag)] if tag in scalar_tags else []

    def last(points: Curve) -> float:
        return points[-1][1] if points else math.nan

    train, val, val_causal = curve(tags.TRAIN_LOSS), curve(tags.VAL_LOSS), curve(tags.VAL_LOSS_CAUSAL)
    # The epoch mean LitGPT logs at each validation end; the last step's loss if the run has none.
    epoch_train = curve(tags.EPOCH_TRAIN_LOSS)
    final_train = last(epoch_train) if epoch_train else last(train)
    focus = {kind.name: layer_mean(accumulator, scalar_tags, kind.name) for kind in tags.FOCUS_KINDS}
    return RunSummary(
        name=version_dir.relative_to(root).as_posix() if version_dir != root else version_dir.name,
        axes=read_axes(read_hparams(accumulator), version_dir),
        final_train_loss=final_train,
        final_val_loss=last(val),
        best_val_loss=min((v for _, v in val), default=math.nan),
        val_loss_causal=last(val_causal),
        gap=last(val) - final_train,
        train_curve=train,
        val_curve=val,
        val_causal_curve=val_causal,
        train_tokens_per_sec=train_tokens_per_sec(curve(tags.TOKENS_SEEN), curve(tags.TRAIN_TIME)),
        recall_accuracy=last(curve(tags.RECALL_ACCURACY)),
        version_dir=version_dir,
        attention={name: last(points) for name, points in focus.items() if points},
        next_token_curve=focus[tags.NEXT_TOKEN],
        # Only windows of stride 1 put the same tokens at every position: else the curve compares tokens too.
        loss_by_position=loss_by_position(accumulator, scalar_tags, best_step(val))
        if validation_stride(version_dir) == 1
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


def validation_stride(version_dir: Path) -> int | None:
    """The step between the run's validation windows (data.val_stride, else data.stride), from the
    config.yaml train.py saves beside the events; None without it."""
    saved = version_dir / CONFIG_FILE
    if not saved.is_file():
        return None
    from omegaconf import OmegaConf

    data = OmegaConf.load(saved).get("data", {})
    stride = data.get("val_stride") or data.get("stride")
    return None if stride is None else int(stride)


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
    """Training tokens per second of the whole run: the last `train/tokens_seen` over the last `train/time`
    (Lightning's ThroughputMonitor, which counts training steps only, not validation); NaN without them."""
    if not tokens_seen or not train_time or train_time[-1][1] <= 0:
        return math.nan
    return tokens_seen[-1][1] / train_time[-1][1]


def chapter_order(variants: set[str | None]) -> dict[str, int]:
    """Each variant's place in the registry's order: the chapter's (simple … mha), mha's other
    implementations, those beyond the chapter, the baselines.
    Needed only to sort several variants; for one, the models (and torch) are not imported."""
    if len(variants) < 2:
        return {}
    from attention_lab.attention import VARIANTS  # imports torch: only for a report over several variants

    return {name: place for place, name in enumerate(VARIANTS)}


def load_runs(log_dir: str | Path) -> list[RunSummary]:
    """Every run under `log_dir`, in the order of their axes (RunAxes.sort_key: the variants in the
    chapter's order, causal first, then by dropout, ..., seed)."""
    root = Path(log_dir)
    if not root.is_dir():
        reason = "it must be an existing directory, the folder of a sweep, e.g. logs/mask_dropout_tiny"
        raise ConfigError(refusal("log_dir", root, reason))
    version_dirs = find_version_dirs(root)
    if not version_dirs:
        raise ConfigError(
            f"log_dir={str(root)!r} holds no TensorBoard runs: no {EVENTS_GLOB} files found. "
            "Train first, e.g. `python train.py sweep=mask_dropout`, then report on logs/mask_dropout_tiny"
        )
    runs = [load_run(version_dir, root) for version_dir in version_dirs]
    order = chapter_order({r.axes.variant for r in runs})
    return sorted(runs, key=lambda r: (r.axes.sort_key(order), r.name))
