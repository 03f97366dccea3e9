"""The one record of a run's axes: read from the config, written as the run's name and HParams row, read
back by the report as its cells, columns and order; a new axis is one field."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from omegaconf import DictConfig

from attention_lab.cli import axes_of
from attention_lab.report import load_runs
from attention_lab.report.quality import QUALITY
from attention_lab.report.runs import RunSummary
from attention_lab.report.stats import effects, group_cells
from attention_lab.report.tables import setting_columns
from attention_lab.run_record import MASK, RunAxes, axis, cell_name
from attention_lab.settings import TrainSettings, checked
from attention_lab.training.run_folder import Run
from attention_lab.training.tensorboard import COLOUR_BY_CELL
from tests.helpers import compose_config


def run_axes(cfg: DictConfig) -> RunAxes:
    """The axes of a composed config's checked settings (what the run saves and the report reads back)."""
    return RunAxes.read(checked(TrainSettings, cfg))


def test_every_axis_is_read_from_the_composed_config():
    axes = run_axes(compose_config("model.pos_emb=rope", "seed=7"))
    recall = run_axes(compose_config("data=recall"))  # the axes of another data set: pairs
    unread = [f.name for f in RunAxes.fields() if getattr(axes, f.name) is None is getattr(recall, f.name)]
    assert not unread, f"RunAxes fields whose key no composed config has: {unread}"
    assert (axes.pairs, recall.pairs, recall.data) == (None, 8, "recall")
    assert (axes.data, axes.model, axes.variant, axes.pos_emb) == ("verdict", "tiny", "mha", "rope")
    assert (axes.seed, axes.lr) == (7, 4e-3)
    # model.drop_rate follows attention.dropout; the embedding and shortcut rates follow model.drop_rate
    assert (axes.dropout, axes.drop_rate_emb, axes.drop_rate_shortcut) == (0.1, 0.1, 0.1)


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ((), "mha-causal-p0.1-s123"),
        (
            ("attention=causal", "attention.causal=false", "attention.dropout=0.3"),
            "causal-non-causal-p0.3-s123",
        ),
        (("dropout=embedding", "seed=2"), "mha-causal-p0.0-emb0.2-s2"),
        (("model.pos_emb=alibi", "data.name=notes"), "notes-mha-pos_alibi-causal-p0.1-s123"),
    ],
)
def test_the_run_name_is_written_from_the_axes(overrides, name):
    cfg = compose_config(*overrides)
    assert cfg.run_name == name == run_axes(cfg).run_name == axes_of(cfg).run_name
    assert cfg.callbacks.tensorboard_extras.axes == run_axes(cfg).hparams()


def test_the_hparams_row_reads_back_as_the_same_axes():
    axes = run_axes(compose_config("attention.causal=false", "dropout=shortcut", "seed=5"))
    # TensorBoard's HParams plugin stores a bool as a string (TensorBoardExtras) and a number as a float
    stored = {k: str(v).lower() if isinstance(v, bool) else float(v) if isinstance(v, int) else v
              for k, v in axes.hparams().items()}  # fmt: skip
    assert RunAxes(**RunAxes.from_hparams(stored)) == axes


def test_the_heatmap_title_names_variant_mask_dropout_and_where():
    axes = RunAxes(variant="mha", causal=False, dropout=0.2, drop_rate_emb=0.2, drop_rate_shortcut=0.2)
    title = axes.title("layer 1 · epoch 4 (step 90)")
    assert title == f"mha · {MASK[False]} · dropout all 0.2\nlayer 1 · epoch 4 (step 90)"
    assert RunAxes(variant="gqa", pos_emb="rope").title().startswith(f"gqa · positions rope · {MASK[True]}")


def run(axes: RunAxes, val: float) -> RunSummary:
    name = f"{axes.run_name}/version_0"
    return RunSummary(name, axes, QUALITY["text"], val, val, val, val, 0.0, [], [(1, val)], [])


@dataclasses.dataclass(frozen=True)
class WithTask(RunAxes):
    """RunAxes with one more axis, as a new axis would be added: one field."""

    task: str = axis("data.task", "task", str, "lm", optional=True)


def test_a_new_axis_is_one_field_that_names_splits_and_shows_runs():
    config = {"attention": {"name": "mha", "causal": True, "dropout": 0.0}, "data": {"task": "recall"}}
    axes = WithTask.read({**config, "seed": 1})
    assert axes.task == "recall" and axes.run_name == "mha-causal-p0.0-s1-recall"  # a subclass's field: last
    assert axes.hparams()["task"] == "recall" and WithTask.from_hparams(axes.hparams())["task"] == "recall"
    runs = [run(WithTask(variant="mha", causal=causal, seed=seed, task=task), val=2.0 + causal)
            for task in ("lm", "recall") for causal in (True, False) for seed in (1, 2, 3)]  # fmt: skip
    cells = group_cells(runs)
    assert [(c.axes.task, c.axes.causal, len(c.runs)) for c in cells] == [
        ("lm", True, 3), ("lm", False, 3), ("recall", True, 3), ("recall", False, 3)
    ]  # fmt: skip
    headers, rows = setting_columns(cells)
    assert headers == ["variant", "mask", "dropout", "task", "n"] and rows[2][3] == "recall"
    mask = [e.where for e in effects(cells) if e.measure == "Δ val loss (non-causal − causal)"]
    assert mask == ["mha, dropout none, task lm", "mha, dropout none, task recall"]  # one effect per task


@pytest.mark.slow
def test_a_sweeps_runs_read_back_with_the_axes_they_were_trained_with(grid_sweep: Path):
    runs = load_runs(grid_sweep)
    assert len(runs) == 8
    for run in runs:
        trained = Run.load(run.version_dir).axes
        assert run.axes == trained
        assert run.name.split("/")[0] == trained.run_name


def test_runs_that_differ_only_by_seed_share_a_colour_and_a_cell() -> None:
    """TensorBoard colours runs by what COLOUR_BY_CELL captures of their names; the report names its cell runs
    alike (a sweep's `-lr<rate>` after the seed included)."""
    group = re.compile(COLOUR_BY_CELL)

    def colour(name: str) -> tuple[str, ...]:
        return group.match(f"{name}/version_0").groups()

    assert colour("mha-causal-p0.0-s1") == colour("mha-causal-p0.0-s3") != colour("mha-non-causal-p0.0-s1")
    assert colour("recall-k16-mha-causal-p0.0-s1-lr0.001") != colour("recall-k16-mha-causal-p0.0-s1-lr0.003")
    assert cell_name("recall-k16-mha-causal-p0.0-s2-lr0.001") == "recall-k16-mha-causal-p0.0-lr0.001"
