"""docs/troubleshooting.md, written from the tables of attention_lab.checks by
`python -m attention_lab.checks`; tests/test_troubleshooting.py fails when the file and the tables differ."""
# ruff: noqa: E501  (markdown table rows are one line each)

from __future__ import annotations

from pathlib import Path

from attention_lab.errors import ConfigError
from attention_lab.rules import FreeForm, Table, check_value

DOC = Path(__file__).resolve().parents[2] / "docs" / "troubleshooting.md"

INTRO = """\
# Troubleshooting

<!-- Written by `python -m attention_lab.checks` from src/attention_lab/checks.py and checks_trainer.py; do not edit by hand. -->

Every command line checks all its settings before it builds anything. A bad value prints one line and the
command exits with status 1:

    error: <setting>=<value> is not allowed: it must be <what is allowed>

`HYDRA_FULL_ERROR=1` shows the traceback as well. The same checks run when training from Python
(`attention_lab.train.run(cfg)` raises `attention_lab.errors.ConfigError`). In the tables, `*` stands for
any one part of a name (a callback, a list index); "free-form" settings take any value, for the reason
given. Keys beside a `_target_` must be arguments of the class it names (`+trainer.max_epoch=3` →
`trainer.max_epoch is not allowed: it is not an argument of lightning.Trainer (those are: ...)`).
"""

FILES = """\
## Files

| what | prints |
|---|---|
| `data.path` is a directory | `data.path=<dir> is a directory: it must be a UTF-8 text file, e.g. data.path=<dir>/the-verdict.txt` |
| `data.path` is a device, pipe or socket (`/dev/null`) | `data.path=/dev/null is not a regular file (a device, pipe or socket): ...` |
| `data.path` cannot be read | `data.path=<file> cannot be read (Permission denied): it must be a UTF-8 text file this user may read` |
| `data.path` is not UTF-8 | `data.path=<file> is not UTF-8 text (byte <n> cannot be decoded): ...` |
| `data.path` is empty | `data.path=<file> is empty: it must be a UTF-8 text with some words in it` |
| `data.path` is missing and the download fails | `data.path=<file> does not exist and downloading <url> failed (...)` |
| the download has another sha256 | `data.path=<file> does not exist and the file downloaded from <url> has sha256 ..., expected ...` |
| a split is shorter than one window | `The train split of <file> has <n> tokens, but data.max_length=<L> needs at least <L+1> per split` |

A download is written only to a path that does not exist yet: the bytes are hash-checked, written to a
temporary file beside it and linked into place when complete, so the path never holds half a text and a
file that is already there is never replaced.

## Resuming: `ckpt_path` (train.py) and `ckpt` (generate)

- `ckpt_path=last` resumes from the newest checkpoint of the run name that can be read
  (`logs/<experiment>/<run_name>/version_*/checkpoints/last.ckpt`); a checkpoint cut short by a crash is
  skipped with a log line `ckpt_path=last skips <file>: ...`. Without any: `ckpt_path=last: no earlier run
  named <run_name> has a checkpoint that can be read (...)`.
- A path that is a directory or missing: `ckpt_path=<path> is not a file: give a .ckpt from
  logs/<experiment>/<run>/version_<n>/checkpoints/, or ckpt_path=last (the newest readable one)`. A file that
  is not a training checkpoint: `ckpt_path=<path> is not a checkpoint written by attention-lab (cut short, or
  another kind of file): ...`. generate says `ckpt=`.
- A best.ckpt (`callbacks.checkpoints.save_best=true`), which holds the weights only: `ckpt_path=<file>
  holds the weights only (a best.ckpt, for generation): training cannot go on from it. Give the run's
  checkpoints/last.ckpt, or ckpt_path=last`. `python -m attention_lab.generate ckpt=<file>` takes it.
- Other model or attention settings than the checkpoint's: `ckpt_path=<file> was trained with other
  settings: model.emb_dim=64 (checkpoint: 16). Resume with the settings the checkpoint was trained with.`
- A finished run: `ckpt_path=<file> was saved after epoch <n> of trainer.max_epochs=<n>: nothing is left to
  train. Set trainer.max_epochs above <n> to train longer.`

A resumed run logs into its checkpoint's version directory; TensorBoard drops what the interrupted run
logged after the checkpoint, so each step shows once (tests/test_chaos.py kills a run five times).

## During training

- A NaN or infinite loss stops the run before the bad update is checkpointed
  (`callbacks.nan_guard`, `attention_lab.callbacks.NonFiniteLossGuard`, raising `TrainingDivergedError`):
  `error: train/loss became nan at step <n> (epoch <e>); training stopped. The usual cause is a learning
  rate too large for the model: optimizer.lr=<lr> (try one 10x smaller). ...`
- A full disk while TensorBoard writes events: `the disk is full (errno ENOSPC) while writing the run's
  logs in <dir>: free space there, or set paths.log_dir=<a directory on a disk with room>; then go on with
  ckpt_path=last`.

## Sweeps with failing jobs

In a multirun (`-m`, `sweep=...`) a job with a bad setting or a diverged loss logs its `error: ...` line
and the other jobs go on; at the end the command prints the first such error and exits with status 1.
"""


def table(title: str, entries: Table) -> str:
    rows = [f"## {title}", "", "| setting | allowed | a bad value prints |", "|---|---|---|"]
    for key, entry in entries.items():
        if isinstance(entry, FreeForm):
            rows.append(f"| `{key}` | free-form: {entry.why} | |")
            continue
        try:
            check_value(key, entry.bad_example, entry)
            printed = ""
        except ConfigError as err:
            printed = f"`error: {err}`"
        rows.append(f"| `{key}` | {entry.allowed} | {printed} |")
    return "\n".join(rows) + "\n"


def render() -> str:
    from attention_lab.checks import GENERATE, REPORT, kv_memory_table, train_table

    return "\n".join(
        [
            INTRO,
            table("Settings of train.py (conf/config.yaml)", train_table()),
            table("Settings of `python -m attention_lab.generate` (conf/generate.yaml)", GENERATE),
            table("Settings of `python -m attention_lab.report` (conf/report.yaml)", REPORT),
            table(
                "Settings of `python -m attention_lab.kv_memory` (conf/kv_memory.yaml; model.* and attention.* "
                "as for train.py)",
                {k: v for k, v in kv_memory_table().items() if not k.startswith(("model.", "attention."))},
            ),
            FILES,
        ]
    )


def write() -> None:
    DOC.write_text(render(), encoding="utf-8")
    print(f"wrote {DOC}")
