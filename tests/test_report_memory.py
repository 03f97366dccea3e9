"""The report over several folders (two corpora side by side) and what each variant achieves against the
memory it keeps (report/memory.py), on runs written as train.py leaves them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from torch.utils.tensorboard import SummaryWriter

from attention_lab.errors import ConfigError
from attention_lab.report import load_runs, report
from attention_lab.report.memory import memory_rows
from attention_lab.report.stats import group_cells
from attention_lab.settings import TrainSettings, checked
from attention_lab.training.run_folder import save
from tests.helpers import compose_config

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_run(version_dir: Path, data: str, variant: str, seed: int, val: float, causal: bool = True) -> None:
    """A run as train.py leaves it: its val losses and the settings it saves (config.yaml)."""
    with SummaryWriter(version_dir) as writer:
        for step, loss in enumerate((val + 1.0, val)):
            writer.add_scalar("val/loss", loss, step)
    sizes = ("model.n_layers=2", "model.emb_dim=16", "model.n_heads=4", "model.context_length=32")
    mask = f"attention.causal={str(causal).lower()}"
    cfg = compose_config(f"attention={variant}", mask, "attention.dropout=0.0", f"seed={seed}",
                         f"data.name={data}", *sizes)  # fmt: skip
    save(checked(TrainSettings, cfg), version_dir)


@pytest.mark.slow
def test_two_corpora_lie_side_by_side_and_each_effect_stays_within_its_corpus(tmp_path: Path, capsys):
    for data, shift in (("verdict", 0.0), ("shakespeare", -1.0)):
        for causal in (True, False):
            for seed in (1, 2, 3):
                val = 6.0 + shift + (0.0 if causal else -3.0) + 0.01 * seed
                write_run(
                    tmp_path / data / f"run-{causal}-{seed}" / "version_0", data, "mha", seed, val, causal
                )
    png = report([tmp_path / "verdict", tmp_path / "shakespeare"], tmp_path / "both.png", "markdown")
    out = capsys.readouterr().out
    assert out.startswith("**verdict + shakespeare: 12 runs in 4 cells")
    mask_effects = [line for line in out.splitlines() if "Δ val loss (non-causal − causal)" in line]
    assert len(mask_effects) == 2  # one per corpus, never across them
    assert all("-3.000" in line for line in mask_effects)
    assert any("data shakespeare" in line for line in mask_effects)
    assert png.read_bytes().startswith(PNG_SIGNATURE)


@pytest.mark.slow
def test_on_text_each_variant_is_compared_with_mha_against_the_memory_it_keeps(
    tmp_path: Path, capsys, monkeypatch
):
    for variant, val in (("mha", 5.0), ("gqa", 5.05), ("none", 6.0)):
        for seed in (1, 2, 3):
            write_run(
                tmp_path / f"{variant}-{seed}" / "version_0", "shakespeare", variant, seed, val + 0.01 * seed
            )
    cells = group_cells(load_runs(tmp_path))
    headers, rows = memory_rows(cells)
    table = {row[0]: dict(zip(headers, row, strict=True)) for row in rows}
    # mha keeps keys and values of 16 numbers per token, per layer: 2 x 16 x 4 bytes x 32 tokens x 2 layers
    assert table["mha"]["memory / sequence"] == "8,192 B" and table["gqa"]["memory / sequence"] == "4,096 B"
    assert table["none"]["memory / sequence"] == "0 B"
    assert table["gqa"]["Δ vs mha"].startswith("+0.050") and table["gqa"]["verdict"] == "exceeds seed spread"
    assert table["none"]["Δ vs mha"].startswith("+1.000") and table["mha"]["Δ vs mha"] == "—"
    drawn: list[str] = []

    def x_label_of(cells, path, name, figure):  # what plot_report would save
        drawn.append(figure(cells, name).axes[0].get_xlabel())
        return path

    monkeypatch.setattr("attention_lab.report.plot_report", x_label_of)
    report(tmp_path, tmp_path / "memory.png", "markdown", figure="memory")
    assert "quality and memory" in capsys.readouterr().out
    assert drawn[-1].startswith("bytes kept per sequence")
    report(tmp_path, tmp_path / "curves.png", "markdown", figure="curves")
    assert "quality and memory" not in capsys.readouterr().out  # a text sweep's curves: no memory table


def test_several_folders_default_to_a_figure_named_after_them_and_each_folder_counts_once(
    tmp_path: Path, capsys
):
    for data in ("verdict", "shakespeare"):
        for seed in (1, 2):
            write_run(tmp_path / data / f"s{seed}" / "version_0", data, "mha", seed, 6.0 + seed / 10)
    png = report([tmp_path / "verdict", tmp_path / "shakespeare", tmp_path / "verdict"], fmt="markdown")
    assert png == tmp_path / "report-verdict+shakespeare.png" and png.is_file()
    assert capsys.readouterr().out.startswith("**verdict + shakespeare: 4 runs in 2 cells")


@pytest.mark.parametrize(
    ("log_dir", "figure", "refused"), [([], "auto", "log_dir=[]"), (".", "memroy", "figure=memroy")]
)
def test_no_folder_or_an_unknown_figure_is_one_line(log_dir, figure, refused, tmp_path: Path):
    write_run(tmp_path / "r" / "version_0", "verdict", "mha", 1, 6.0)
    with pytest.raises(ConfigError, match=rf"^{re.escape(refused)} is not allowed: "):
        report(log_dir if log_dir == [] else tmp_path, fmt="markdown", figure=figure)
