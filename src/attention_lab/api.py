"""The lab from Python, for notebooks: the command lines' own code, called with the same overrides.

    from attention_lab import api

    causal = api.train(["attention=causal"])                          # python train.py attention=causal
    leaky = api.train(["attention=causal", "attention.causal=false"])
    model = api.load_model(causal.checkpoint)
    api.generate(model, "Every effort moves you", max_new_tokens=20)  # python -m attention_lab.generate
    api.attention_figure(model)                                       # the heatmaps of the book's sentence
    api.report("logs/tiny")                                           # python -m attention_lab.report
    api.show_tensorboard("logs/tiny")                                 # TensorBoard inline, on the experiment

`train` checks the settings as train.py does and raises `attention_lab.errors.ConfigError` with the same
one line (an override Hydra cannot apply, too: a key the config lacks takes a `+`, as on the command line);
the runs log and checkpoint where train.py's would (logs/<experiment>/<run>/version_<n>/). Every function
raises the lab's errors as that one line, without the frames behind it. A relative folder of runs that is
not found from the working directory is looked up in the project's root, where `train` writes logs/.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

from hydra.errors import CompactHydraException
from hydra.types import RunMode
from matplotlib.figure import Figure
from tensorboard import program

from attention_lab.cli import compose, project_root
from attention_lab.errors import AttentionLabError, ConfigError, refusal
from attention_lab.model import GPTModel
from attention_lab.model.generation import continue_text, prompt_ids
from attention_lab.report import Table, as_list, draws_memory, load_cells, report_tables
from attention_lab.report.memory import memory_figure
from attention_lab.report.plot import report_figure
from attention_lab.report.runs import find_version_dirs
from attention_lab.report.tables import render
from attention_lab.run_record import MASK, checkpoint_path
from attention_lab.settings import TrainSettings, checked
from attention_lab.training import run
from attention_lab.training.checkpoints import model_from_checkpoint
from attention_lab.training.heatmaps import heatmap_figure
from attention_lab.training.resume import resolve_checkpoint
from attention_lab.training.run_folder import Run
from attention_lab.training.tensorboard import landing_url

P, R = ParamSpec("P"), TypeVar("R")


def one_line(function: Callable[P, R]) -> Callable[P, R]:
    """`function`, raising its refusals as one line: Hydra's (an override it cannot apply) as ConfigError,
    the lab's own errors without the frames behind them."""

    @functools.wraps(function)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except CompactHydraException as err:
            raise ConfigError(" ".join(str(err).split())) from None
        except AttentionLabError as err:
            raise err.with_traceback(None) from None

    return wrapped


def runs_folder(log_dir: str | Path) -> Path:
    """`log_dir`, or (relative, and not found from the working directory) the same path in the project's
    root, where `train` writes: `report("logs/tiny")` works from notebooks/ too. ConfigError without one."""
    path = Path(log_dir)
    if not path.is_absolute() and not path.exists():
        path = Path(project_root()) / path
    if not path.is_dir():
        raise ConfigError(refusal("log_dir", log_dir, "it must be a folder of runs, e.g. logs/<experiment>"))
    return path


@dataclass(frozen=True)
class TrainResult:
    """What `train` returns: the run's last losses (NaN where none was logged) and where it wrote."""

    train_loss: float  # the mean train loss of the last epoch
    val_loss: float
    val_loss_causal: float  # the val loss with the causal mask forced on: the model as a generator
    best_val_loss: float
    version_dir: Path  # logs/<experiment>/<run>/version_<n>: TensorBoard's events, config.yaml, checkpoints/

    @property
    def checkpoint(self) -> Path | None:
        """The run's last.ckpt (None with callbacks.checkpoints=null)."""
        path = checkpoint_path(self.version_dir)
        return path if path.is_file() else None


@one_line
def train(overrides: Sequence[str] = ()) -> TrainResult:
    """Train as `python train.py <overrides>` does: the same config (composed with Hydra's compose API from
    conf/), the same checks, logs and checkpoints. A refused setting raises ConfigError with one line.

    >>> run = train(["attention=mha", "trainer.max_epochs=2"])  # doctest: +SKIP
    >>> run.val_loss, run.version_dir  # doctest: +SKIP
    """
    if compose(*overrides, return_hydra_config=True).hydra.mode == RunMode.MULTIRUN:  # sweep=<name>
        given = " ".join(overrides)
        reason = f"it must be one run's settings; a sweep runs from the command line: python train.py {given}"
        raise ConfigError(refusal("overrides", given, reason))
    metrics = run(checked(TrainSettings, compose(*overrides)))
    return TrainResult(
        metrics["train_loss"], metrics["val_loss"], metrics["val_loss_causal"], metrics["best_val_loss"],
        Path(metrics["version_dir"]),
    )  # fmt: skip


@one_line
def load_model(ckpt: str | Path | None = "last", log_dir: str | Path | None = None) -> GPTModel:
    """The GPTModel of a checkpoint train.py (or `train`) wrote, in eval mode on the CPU; "last" is the
    newest checkpoint under `log_dir` (default: the project's logs/), as for `python -m
    attention_lab.generate ckpt=last`. None (`TrainResult.checkpoint` of a run without checkpoints) is
    refused in one line."""
    if ckpt is None:
        reason = "it must be a .ckpt file or last; a run trained with callbacks.checkpoints=null wrote none"
        raise ConfigError(refusal("ckpt", None, reason))
    where = compose("ckpt=last", config_name="generate").log_dir if log_dir is None else log_dir
    return model_from_checkpoint(resolve_checkpoint(str(ckpt), where))


@one_line
def generate(model: GPTModel, prompt: str | None = None, max_new_tokens: int = 50, temperature: float = 0.0,
             top_k: int | None = None, seed: int = 123) -> str:  # fmt: skip
    """The prompt (default: the prompt of the data the model was trained on, `model.prompt`) and its
    continuation in the model's tokenizer, as `python -m attention_lab.generate` writes it: greedy with
    temperature 0, else sampled from softmax(logits / temperature) among the top_k most likely tokens."""
    return continue_text(model, prompt or model.prompt, max_new_tokens, temperature, top_k, seed)


@one_line
def attention_figure(model: GPTModel, text: str | None = None, title: str | None = None) -> Figure:
    """The attention weights of every layer and head for `text` (default: the heatmap text of the data the
    model was trained on, `model.heatmap_text`; its first context_length tokens), as the run's TensorBoard
    heatmaps show them: a row per layer, rows are queries, columns are keys."""
    idx = prompt_ids(model, text or model.heatmap_text)[:, : model.context_length]
    maps = [weights[0] for weights in model.attention_maps(idx)]  # (heads, T, T) per layer
    if not maps:
        raise ValueError(f"attention={model.attention_config.name} has no attention weights to show")
    title = title or f"{model.attention_config.name} · {MASK[model.attention_config.causal]}"
    return heatmap_figure(maps, model.tokenizer.labels(idx[0]), title)


@dataclass(frozen=True)
class Report:
    """The report of a sweep folder: its tables (title, headers, rows: what `python -m attention_lab.report`
    prints) and its figure. In a notebook it shows as Markdown tables; `figure` draws inline."""

    tables: list[Table]
    figure: Figure

    def rows(self, title_start: str = "") -> list[dict[str, str]]:
        """The rows of the first table whose title starts with `title_start`, as dicts of column → value
        (pandas.DataFrame(report.rows()) makes a DataFrame of them)."""
        for title, headers, rows in self.tables:
            if title.startswith(title_start):
                return [dict(zip(headers, row, strict=True)) for row in rows]
        titles = "; ".join(title for title, _, _ in self.tables)
        raise ValueError(f"no table's title starts with {title_start!r}; the tables: {titles}")

    def _repr_markdown_(self) -> str:
        return "\n\n".join(render(*table, "markdown") for table in self.tables)


@one_line
def report(log_dir: str | Path | list[str | Path], figure: str = "auto") -> Report:
    """The tables and figure of `python -m attention_lab.report log_dir=<log_dir> figure=<figure>` (nothing
    printed or written): runs that differ only by seed form a cell; effects carry 95% intervals. A list of
    folders lays their runs side by side."""
    cells, _, name = load_cells([runs_folder(d) for d in as_list(log_dir)])
    memory = draws_memory(cells, figure)
    drawn = memory_figure if memory else report_figure
    return Report(report_tables(cells, name, memory), drawn(cells, name))


def layers_of_runs(log_dir: str | Path) -> int:
    """The most layers a run under `log_dir` has, from the settings each run saved (2 without any)."""
    runs = find_version_dirs(runs_folder(log_dir))
    return max((Run.load(version_dir).settings.model.n_layers for version_dir in runs), default=2)


@one_line
def show_tensorboard(log_dir: str | Path, height: int = 800) -> str:
    """Start TensorBoard on `log_dir` inside this Python process (it stops with the kernel) and show it inline
    on `landing_url`; returns that address, which also opens in a browser."""
    log_dir = runs_folder(log_dir)
    from IPython.display import IFrame, display  # the notebook extra's: only in a notebook

    board = program.TensorBoard()
    # Port 0: a free one. The Python event loader: no data-server process beside the kernel's.
    flags = ["--logdir", str(log_dir), "--port", "0", "--host", "localhost", "--load_fast", "false"]
    board.configure(argv=[None, *flags])
    url = landing_url(board.launch(), layers_of_runs(log_dir))
    display(IFrame(html.escape(url), width="100%", height=height))  # the address's quotes, as HTML
    return url
