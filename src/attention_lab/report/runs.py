"""The runs of a sweep, read back: every directory under the report's `log_dir` that holds TensorBoard event
files is one run; its settings (variant, causal, dropout, seed, positions) come from the HParams data
TensorBoardExtras writes (or the run's config.yaml), its losses from the scalars, both read with
tensorboard's EventAccumulator."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from attention_lab import tags
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
    pos_emb: str = "learned"  # model.pos_emb: learned, none (word order only through the mask), rope, alibi
    drop_rate_emb: float | None = None  # the dropout on the embeddings and on the shortcut path
    drop_rate_shortcut: float | None = None
    train_tokens_per_sec: float = math.nan  # over the time in training steps
    run_dir: Path | None = None  # where the events (and checkpoints/) are
    # Where attention looked at the last validation, mean over layers (NaN where the run logged none):
    attention_next: float = math.nan  # on the token each query must predict: the leak
    attention_self: float = math.nan
    attention_previous: float = math.nan
    attention_first: float = math.nan
    next_token_curve: Curve = field(default_factory=list)  # attention_next at every validation
    # The val loss at positions 1, 2, 4, … of the window at the best validation; empty where not logged or
    # where the validation windows' stride was not 1 (then each position predicts other tokens).
    loss_by_position: dict[int, float] = field(default_factory=dict)


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
    "drop_rate_emb": "model.embedding_dropout",  # a ModelConfig property: drop_rate_emb, else drop_rate
    "drop_rate_shortcut": "model.shortcut_dropout",
}


def read_settings(hparams: dict[str, object], run_dir: Path) -> dict[str, object]:
    """The run's SETTINGS from its HParams row, those missing there (a run without the HParams callback,
    or whose row lacks some) from the config.yaml train.py saves beside the events."""
    settings = {name: hparams[name] for name in SETTINGS if name in hparams}
    saved = run_dir / "config.yaml"
    if len(settings) < len(SETTINGS) and saved.is_file():
        from omegaconf import OmegaConf

        from attention_lab.model.config import ModelConfig  # imports torch: only for such runs

        config = OmegaConf.load(saved)
        model = ModelConfig(**{k: v for k, v in config.model.items() if k in ModelConfig.model_fields})
        for name, key in SETTINGS.items():
            if name not in settings and key.startswith("model."):
                settings[name] = getattr(model, key.removeprefix("model."))
            elif name not in settings:
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

    train, val, val_causal = curve(tags.TRAIN_LOSS), curve(tags.VAL_LOSS), curve(tags.VAL_LOSS_CAUSAL)
    # The epoch mean LitGPT logs at each validation end; the last step's loss if the run has none.
    epoch_train = curve(tags.EPOCH_TRAIN_LOSS)
    final_train = last(epoch_train) if epoch_train else last(train)
    settings = read_settings(read_hparams(accumulator), run_dir)
    dropout, seed = settings.get("dropout"), settings.get("seed")
    focus = {kind: layer_mean(accumulator, scalar_tags, kind) for kind in FOCUS}
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
        drop_rate_emb=as_float(settings.get("drop_rate_emb")),
        drop_rate_shortcut=as_float(settings.get("drop_rate_shortcut")),
        train_tokens_per_sec=train_tokens_per_sec(curve(tags.TOKENS_SEEN), curve(tags.TRAIN_TIME)),
        run_dir=run_dir,
        **{f"attention_{FOCUS[kind]}": last(curve_) for kind, curve_ in focus.items()},
        next_token_curve=focus["next_token"],
        # Only windows of stride 1 put the same tokens at every position: else the curve compares tokens too.
        loss_by_position=loss_by_position(accumulator, scalar_tags, best_step(val))
        if validation_stride(run_dir) == 1
        else {},
    )


# The tags TensorBoardExtras writes where attention looks (val_attention/<kind>/layer_<i>) → field suffix.
FOCUS = {"next_token": "next", "self": "self", "previous_token": "previous", "first_token": "first"}


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


def validation_stride(run_dir: Path) -> int | None:
    """The step between the run's validation windows (data.val_stride, else data.stride), from the
    config.yaml train.py saves beside the events; None without it."""
    saved = run_dir / "config.yaml"
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


def as_float(value: object) -> float | None:
    return None if value is None else float(value)


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
            r.pos_emb,
            not r.causal,
            r.dropout or 0.0,
            r.drop_rate_emb or 0.0,
            r.drop_rate_shortcut or 0.0,
            r.seed or 0,
            r.name,
        ),
    )
