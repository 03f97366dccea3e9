"""Resuming a run: `ckpt_path=<file>` or `ckpt_path=last` → the checkpoint and the log directory to go on in.

A resumed run continues in the TensorBoard version directory its checkpoint lies in
(logs/<experiment>/<run_name>/version_<n>/checkpoints/*.ckpt), so its curves go on where they stopped.
Steps the crashed run logged after its checkpoint are logged again; the new event file starts with a
"purge" marker at the checkpoint's step, so TensorBoard drops the crashed run's copies of those steps.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from attention_lab.errors import ConfigError
from attention_lab.run_record import CHECKPOINT_DIR, EVENTS_GLOB, checkpoint_path
from attention_lab.settings import TrainSettings

log = logging.getLogger("attention_lab")


@dataclass(frozen=True)
class Resume:
    ckpt_path: Path
    version: int | None  # the TensorBoard version (version_<n>) to log into; None → a new one
    global_step: int  # optimizer steps done: the first step the resumed run logs


def find_last_checkpoint(
    directory: Path, pattern: str = checkpoint_path("version_*").as_posix(), setting: str = "ckpt_path"
) -> Path | None:
    """The most recently written checkpoint matching `pattern` under `directory` that can be read (by
    default the last.ckpt of one of a run's versions: best.ckpt holds the weights only and cannot be
    resumed from), or None. Checkpoints that cannot be read (cut short by a crash, say) are skipped, each
    with a log line."""
    candidates = sorted(directory.glob(pattern), key=lambda path: path.stat().st_mtime, reverse=True)
    for path in candidates:
        try:
            read_checkpoint(path, setting)
        except ConfigError as err:
            log.warning("%s=last skips %s: %s", setting, path, err)
            continue
        return path
    return None


def read_checkpoint(path: Path, setting: str = "ckpt_path") -> dict[str, Any]:
    """The training checkpoint at `path`, or ConfigError naming `setting` when it is none of ours."""
    instead = (
        f"give a .ckpt from logs/<experiment>/<run>/version_<n>/checkpoints/, or {setting}=last "
        "(the newest readable one)"
    )
    if not path.is_file():
        raise ConfigError(f"{setting}={path} is not a file: {instead}")
    try:  # mmap: the weights are not read, only the small parts looked at here
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # a truncated file, or not a torch file at all
        checkpoint = None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "loops" not in checkpoint:
        raise ConfigError(
            f"{setting}={path} is not a checkpoint written by attention-lab (cut short, or another kind of "
            f"file): {instead}"
        )
    return checkpoint


def check_same_network(settings: TrainSettings, checkpoint: dict[str, Any], path: Path) -> None:
    """The weights only fit the model and attention settings they were trained with, and the vocabulary
    (the data's tokenizer and characters) that gives their ids a meaning."""
    saved = checkpoint.get("hyper_parameters", {})
    differences = []
    for group, keys in (("model", None), ("attention", None), ("data", ("tokenizer", "characters"))):
        wanted = getattr(settings, group).model_dump(mode="json")
        for key, value in wanted.items():
            if (keys is None or key in keys) and key in saved.get(group, {}) and saved[group][key] != value:
                differences.append(f"{group}.{key}={value} (checkpoint: {saved[group][key]})")
    if differences:
        raise ConfigError(
            f"ckpt_path={path} was trained with other settings: {', '.join(differences)}. "
            "Resume with the settings the checkpoint was trained with."
        )


def version_of(path: Path, directory: Path) -> int | None:
    """n when `path` is <directory>/version_<n>/checkpoints/<file>, else None."""
    version_dir = path.resolve().parent.parent
    prefix, _, number = version_dir.name.partition("_")
    in_run = path.parent.name == CHECKPOINT_DIR and version_dir.parent == directory.resolve()
    return int(number) if in_run and prefix == "version" and number.isdigit() else None


def resolve_checkpoint(ckpt: str | None, log_dir: str | Path) -> Path:
    """`ckpt` (generate's setting) as a readable checkpoint; `last` means the most recently written one
    under `log_dir` (a best.ckpt included: generation needs the weights only)."""
    if ckpt == "last":
        path = find_last_checkpoint(Path(log_dir), "**/*.ckpt", setting="ckpt")
        if path is None:
            raise ConfigError(
                f"ckpt=last found no readable checkpoint under log_dir={log_dir}; train a run with "
                "checkpoints first, or give ckpt=<path to a .ckpt file>"
            )
        return path
    path = Path(str(ckpt)).expanduser()
    read_checkpoint(path, setting="ckpt")  # a directory, a device or another file: one clear line
    return path


def resolve_resume(settings: TrainSettings) -> Resume | None:
    """Check `ckpt_path` before anything is built or written; None when starting afresh."""
    if settings.ckpt_path is None:
        return None
    directory, name = settings.run_dir, settings.run_dir.name
    if settings.ckpt_path == "last":
        path = find_last_checkpoint(directory)
        if path is None:
            raise ConfigError(
                f"ckpt_path=last: no earlier run named {name} has a checkpoint that can be read "
                f"({directory}/version_*/checkpoints/last.ckpt). Start it without ckpt_path, or give "
                "ckpt_path=<path to a .ckpt file>."
            )
    else:
        path = Path(settings.ckpt_path).expanduser()
        if not path.exists():
            raise ConfigError(
                f"ckpt_path={settings.ckpt_path} does not exist. Give a .ckpt file (a run's "
                f"checkpoints/last.ckpt) or ckpt_path=last to resume the latest run named {name}."
            )
    checkpoint = read_checkpoint(path)
    if "optimizer_states" not in checkpoint:
        raise ConfigError(
            f"ckpt_path={path} holds the weights only (a best.ckpt, for generation): training cannot go on "
            "from it. Give the run's checkpoints/last.ckpt, or ckpt_path=last"
        )
    check_same_network(settings, checkpoint, path)
    epochs_done = checkpoint["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"]
    max_epochs = (settings.trainer.model_extra or {}).get("max_epochs")
    if max_epochs is not None and max_epochs != -1 and epochs_done >= max_epochs:
        raise ConfigError(
            f"ckpt_path={path} was saved after epoch {epochs_done} of trainer.max_epochs={max_epochs}: "
            f"nothing is left to train. Set trainer.max_epochs above {epochs_done} to train longer."
        )
    return Resume(path, version_of(path, directory), int(checkpoint["global_step"]))


def wait_to_sort_after_event_files(version_dir: Path) -> None:
    """TensorBoard reads a run's event files in name order, events.out.tfevents.<unix second>.<host>.<pid>,
    and a purge marker only drops the steps of files read before it. A run resumed within the second its
    crashed run opened its file in could sort first (the pids decide) and show steps twice: wait until
    the clock has passed that second (at most one second, and only then)."""
    seconds = [
        int(part)
        for p in version_dir.glob(EVENTS_GLOB)
        if (part := p.name.split(".")[3]).isdigit()
    ]
    if seconds:
        time.sleep(max(0.0, max(seconds) + 1 - time.time()))
