"""docs/troubleshooting.md whole: the settings tables (settings.py), then the problems a run meets with
files, checkpoints and its loss, each made in a temporary directory and met the way a run meets it."""
# ruff: noqa: E501  (markdown table rows are one line each)

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from attention_lab import tags
from attention_lab.cli import compose
from attention_lab.data.datamodule import TextDataModule
from attention_lab.data.text import load_text
from attention_lab.docgen.refusals import ROOT, printed_refusal, settings_table, train_rows
from attention_lab.errors import AttentionLabError, CausalityError
from attention_lab.model.leak_probe import leak_message
from attention_lab.run_record import checkpoint_path
from attention_lab.settings import GenerateSettings, KvMemorySettings, ReportSettings, TrainSettings, checked
from attention_lab.training.callbacks import diverged
from attention_lab.training.checkpoints import CheckpointWriteError, no_room
from attention_lab.training.resume import resolve_checkpoint, resolve_resume


def problem_rows(tmp: Path) -> Iterator[tuple[str, Callable[[], Any]]]:
    (tmp / "latin1.txt").write_bytes("café".encode("latin1"))
    (tmp / "empty.txt").write_text("")
    (tmp / "short.txt").write_text("A text of a few words.")
    (tmp / "notes.ckpt").write_text("notes")
    base = {"state_dict": {}, "loops": {"fit_loop": {"epoch_progress": {"current": {"processed": 10}}}}, "global_step": 90}
    torch.save(base, tmp / "best.ckpt")
    torch.save({**base, "optimizer_states": [], "hyper_parameters": {"model": {"emb_dim": 16}}}, tmp / "other.ckpt")
    torch.save({**base, "optimizer_states": [], "hyper_parameters": {}}, tmp / "done.ckpt")

    def resume(path: str) -> Callable[[], Any]:
        return lambda: resolve_resume(checked(TrainSettings, compose(f"ckpt_path={path}", f"paths.log_dir={tmp}")))

    def split(path: Path) -> Callable[[], Any]:
        return lambda: TextDataModule(checked(TrainSettings, compose(f"data.path={path}")).data).setup()

    yield "`data.path` is a directory", lambda: load_text(tmp)
    yield "`data.path` is a device, pipe or socket", lambda: load_text("/dev/null")
    yield "`data.path` is not UTF-8", lambda: load_text(tmp / "latin1.txt")
    yield "`data.path` is empty", lambda: load_text(tmp / "empty.txt")
    yield "`data.path` is missing and cannot be downloaded", lambda: load_text(tmp / "a.txt", f"file://{tmp}/none.txt")
    yield "the download has another sha256", lambda: load_text(tmp / "b.txt", f"file://{tmp}/short.txt", "0" * 64)
    yield "`data.path` is a truncated or altered copy", lambda: load_text(tmp / "short.txt", None, "0" * 64)
    yield "a split is shorter than one window", split(tmp / "short.txt")
    yield "`ckpt_path` does not exist", resume(f"{tmp}/missing.ckpt")
    yield "`ckpt_path` is a directory", resume(str(tmp))
    yield "`ckpt_path` is another kind of file", resume(f"{tmp}/notes.ckpt")
    yield "`ckpt_path` is a best.ckpt (weights only)", resume(f"{tmp}/best.ckpt")
    yield "`ckpt_path` was trained with other settings", resume(f"{tmp}/other.ckpt")
    yield "`ckpt_path` holds a finished run", resume(f"{tmp}/done.ckpt")
    yield "`ckpt_path=last` finds no checkpoint", resume("last")
    yield "generate's `ckpt=last` finds no checkpoint", lambda: resolve_checkpoint("last", tmp / "logs")
    yield "the loss becomes NaN (the NaN guard)", lambda: _raise(diverged(tags.TRAIN_LOSS, float("nan"), 40, 4, 0.5, checkpoint_path(tmp)))
    yield "a causal variant's mask lets a position see ahead (the leak probe)", lambda: _raise(leak_message("my_variant", 0), CausalityError)
    yield "the disk fills up while a checkpoint is written", lambda: _raise(no_room(checkpoint_path(tmp), 2**30, 2**20), CheckpointWriteError)


def _raise(message: str, kind: type[Exception] = AttentionLabError) -> None:
    raise kind(message)


def problems_table() -> str:
    rows = ["## Files, checkpoints and runs", "", "| what happened | it prints |", "|---|---|"]
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        for what, check in problem_rows(tmp):
            rows.append(f"| {what} | {printed_refusal(check).replace(str(tmp.resolve()), '<dir>').replace(str(tmp), '<dir>')} |")
    return "\n".join(rows) + "\n"


INTRO = """\
# Troubleshooting

<!-- Written by `python -m attention_lab.docgen` from the settings schema, the variant registry and the messages the code raises; do not edit by hand. -->

Every command line checks its settings before it builds anything (attention_lab.settings: a pydantic
model per config group). A refused value prints one line and the command exits with status 1:

    error: <setting>=<value> is not allowed: <what is allowed> (<what the setting is>)

`HYDRA_FULL_ERROR=1` shows the traceback as well; from Python, `attention_lab.settings.checked(TrainSettings,
cfg)` raises `attention_lab.errors.ConfigError`, and `attention_lab.training.run(settings)` the same for
what only the run can check. Lightning's Trainer and callbacks take any of their own arguments
(`trainer.<argument>`): each is checked against the type in its class's signature, then by Lightning
itself as the trainer is built, and the validation interval against the batches of an epoch, before the
run's folder is made, a model is built or a step is taken. The tables show each setting with a
value it refuses and the line that value prints.
"""

OUTRO = """\
A download is written only to a path that does not exist yet: the bytes are hash-checked, written to a
temporary file beside it and linked into place when complete. A checkpoint is written to a temporary
file and renamed onto the old one. A resumed run logs into its checkpoint's version directory;
TensorBoard drops what the interrupted run logged after the checkpoint. In a multirun (`-m`, `sweep=...`)
a job with a refused setting or a diverged loss logs its `error: ...` line and the other jobs go on; the
command then prints the first such error and exits with status 1.
"""


def troubleshooting() -> str:
    return "\n".join([
        INTRO,
        settings_table("Settings of train.py (conf/config.yaml)", TrainSettings, compose(), train_rows(),
                       others=[compose("data=recall")]),  # fmt: skip
        settings_table("Settings of `python -m attention_lab.generate` (conf/generate.yaml)", GenerateSettings,
                       compose("ckpt=last", config_name="generate")),
        settings_table("Settings of `python -m attention_lab.report` (conf/report.yaml)", ReportSettings,
                       compose(f"log_dir={ROOT}", config_name="report")),
        settings_table("Settings of `python -m attention_lab.kv_memory` (conf/kv_memory.yaml)", KvMemorySettings,
                       compose(config_name="kv_memory")),
        problems_table(),
        OUTRO,
    ])  # fmt: skip
