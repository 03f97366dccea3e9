"""The sweep report: cells averaged over seeds, the mask and dropout effects with verdicts, readable tables
in every format, a PNG, a clear error."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pytest
from torch.utils.tensorboard import SummaryWriter

from attention_lab.errors import ConfigError
from attention_lab.report import generation_speed, load_runs, report
from attention_lab.report.quality import QUALITY
from attention_lab.report.runs import RunSummary
from attention_lab.report.stats import Effect, effects, group_cells, welch_difference
from attention_lab.run_record import RunAxes
from attention_lab.settings import TrainSettings, checked
from attention_lab.training.run_folder import save
from tests.helpers import MICRO, assert_mentions, compose_config, run_module, run_train_script

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(causal: bool, dropout: float, seed: int, val: float, causal_val: float, train: float) -> RunSummary:
    """A run with known numbers: best val = val − 0.1, val curve ending at `val`."""
    return RunSummary(
        name=f"r{causal}{dropout}{seed}",
        axes=RunAxes(variant="mha", causal=causal, dropout=dropout, seed=seed),
        quality=QUALITY["text"],
        final_train_loss=train,
        final_val_loss=val,
        best_val_loss=val - 0.1,
        val_loss_causal=causal_val,
        gap=val - train,
        train_curve=[(0, 9.0), (1, train)],
        val_curve=[(1, val)],
        val_causal_curve=[(1, causal_val)],
    )


# causal runs: val ≈ 6, no leak; non-causal runs: val ≈ 2, val with the mask ≈ 8 (a leak far beyond noise)
KNOWN = [
    run(True, 0.0, 1, 6.0, 6.0, 5.0),
    run(True, 0.0, 2, 6.2, 6.2, 5.1),
    run(True, 0.0, 3, 6.1, 6.1, 5.3),
    run(False, 0.0, 1, 2.0, 8.0, 1.9),
    run(False, 0.0, 2, 2.1, 8.3, 2.0),
    run(False, 0.0, 3, 1.9, 8.1, 1.8),
]


def test_cells_average_over_seeds():
    causal, open_ = group_cells(KNOWN)
    assert (causal.axes.causal, causal.axes.dropout, len(causal.runs)) == (True, 0.0, 3)
    assert statistics.fmean(causal.values("final_val_loss")) == pytest.approx(6.1)
    assert statistics.fmean(open_.values("val_loss_causal")) == pytest.approx((8.0 + 8.3 + 8.1) / 3)
    assert statistics.fmean(causal.values("gap")) == pytest.approx((1.0 + 1.1 + 0.8) / 3)


def test_mask_effect_is_non_causal_minus_causal_with_a_welch_interval():
    found = {e.measure: e for e in effects(group_cells(KNOWN))}
    val = found["Δ val loss (non-causal − causal)"]
    assert val.difference == pytest.approx(2.0 - 6.1)
    se = math.sqrt(statistics.variance([2.0, 2.1, 1.9]) / 3 + statistics.variance([6.0, 6.2, 6.1]) / 3)
    assert val.half_width == pytest.approx(2.776 * se)  # equal variances, 3 + 3 seeds: Welch df = 4
    leak = found["Δ val causal-mask (non-causal − causal)"]
    assert leak.difference == pytest.approx((8.0 + 8.3 + 8.1) / 3 - 6.1)
    assert val.verdict == leak.verdict == "exceeds seed spread"


def test_dropout_effect_is_p_minus_zero_per_mask_setting():
    with_dropout = [run(True, 0.3, s, 6.1 + d, 6.1 + d, 5.6) for s, d in ((1, 0.1), (2, -0.1), (3, 0.0))]
    found = [e for e in effects(group_cells(KNOWN + with_dropout)) if e.effect == "dropout"]
    assert [e.measure for e in found] == ["Δ best val", "Δ final val", "Δ gap val−train"]
    assert found[0].where == "mha, causal, attention 0.3 vs none"
    assert found[1].difference == pytest.approx(0.0, abs=1e-9)
    assert found[1].verdict == "within seed noise"
    assert found[2].difference == pytest.approx(0.5 - (1.0 + 1.1 + 0.8) / 3)


def test_each_dropout_placement_is_a_cell_compared_with_none():
    from dataclasses import replace

    none = [r for r in KNOWN if r.axes.causal]
    places = {"embedding 0.2": (0.2, 0.0, 0.0), "attention 0.2": (0.0, 0.2, 0.0),
              "shortcut 0.2": (0.0, 0.0, 0.2), "all 0.2": (0.2, 0.2, 0.2)}  # fmt: skip
    placed = [replace(r, axes=replace(r.axes, drop_rate_emb=emb, dropout=attn, drop_rate_shortcut=res),
                      gap=r.gap - 0.5) for emb, attn, res in places.values() for r in none]  # fmt: skip
    cells = group_cells(none + placed)
    assert [c.axes.placement for c in cells] == ["none", *places]
    found = [e for e in effects(cells) if e.measure == "Δ gap val−train"]
    assert [e.where for e in found] == [f"mha, causal, {place} vs none" for place in places]
    assert [e.difference for e in found] == [pytest.approx(-0.5)] * 4


def test_runs_without_position_embeddings_form_cells_of_their_own():
    from dataclasses import replace

    no_positions = [replace(r, axes=replace(r.axes, pos_emb="none"), final_val_loss=r.final_val_loss + 1.0)
                    for r in KNOWN]  # fmt: skip
    cells = group_cells(sorted(KNOWN + no_positions, key=lambda r: r.axes.sort_key({})))
    assert [(c.axes.causal, c.axes.pos_emb, len(c.runs)) for c in cells] == [
        (True, "learned", 3), (False, "learned", 3), (True, "none", 3), (False, "none", 3),
    ]  # fmt: skip
    found = [e for e in effects(cells) if e.effect == "positions"]
    assert {e.where for e in found} == {"mha, causal, dropout none", "mha, non-causal, dropout none"}
    final = [e for e in found if e.measure == "Δ final val (none − learned)"]
    assert [e.difference for e in final] == [pytest.approx(1.0)] * 2
    mask = [e.where for e in effects(cells) if e.effect == "mask"]
    # the mask effect (loss, loss with the mask, attention on the next token) with each kind of positions
    assert mask == ["mha, positions learned, dropout none"] * 2 + ["mha, positions none, dropout none"] * 2


def test_verdicts_on_synthetic_numbers():
    assert welch_difference([1.0, 1.0], [1.0, 1.0]) == (0.0, 0.0)
    assert Effect("mask", "", "", 0.5, 0.4).verdict == "exceeds seed spread"
    assert Effect("mask", "", "", -0.5, 0.4).verdict == "exceeds seed spread"
    assert Effect("mask", "", "", 0.3, 0.4).verdict == "within seed noise"
    assert Effect("mask", "", "", 0.3, math.nan).verdict == "one seed: no interval"
    assert math.isnan(welch_difference([1.0], [2.0, 3.0])[1])


@pytest.mark.slow
def test_grid_runs_form_cells_of_two_seeds(grid_sweep: Path):
    runs = load_runs(grid_sweep)
    assert [(r.axes.causal, r.axes.dropout, r.axes.seed) for r in runs] == [
        (c, p, s) for c in (True, False) for p in (0.0, 0.1) for s in (1, 2)
    ]
    for r in runs:
        assert r.best_val_loss == min(v for _, v in r.val_curve)
        assert r.gap == pytest.approx(r.final_val_loss - r.final_train_loss)
        if r.axes.causal:
            assert r.val_loss_causal == pytest.approx(r.final_val_loss)
    cells = group_cells(runs)
    assert [len(c.runs) for c in cells] == [2, 2, 2, 2]
    first = [r for r in runs if r.axes.causal and r.axes.dropout == 0.0]
    assert statistics.fmean(cells[0].values("final_val_loss")) == pytest.approx(
        (first[0].final_val_loss + first[1].final_val_loss) / 2
    )


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["markdown", "plain", "rich"])
def test_tables_keep_every_number_whole_at_80_columns(grid_sweep, tmp_path, capsys, monkeypatch, fmt):
    monkeypatch.setenv("COLUMNS", "80")
    png = report(grid_sweep, tmp_path / "curves.png", fmt)
    out = capsys.readouterr().out
    assert "…" not in out
    cell = group_cells(load_runs(grid_sweep))[0]
    mean_val = f"{statistics.fmean(cell.values('final_val_loss')):.3f}"
    assert mean_val in out
    if fmt == "rich":  # rich wraps long cells onto a second line at a space
        out = " ".join(out.split()).replace("│ │", "")
    verdicts = out.count("within seed noise") + out.count("exceeds seed spread")
    if fmt != "rich":
        assert verdicts == 3 * 2 + 3 * 2  # mask: 3 measures × 2 dropouts; dropout: 3 measures × 2 masks
        assert "attention at the last validation" in out  # where the queries looked, per cell
        assert "val loss by position" not in out  # validated on windows of stride 4: not comparable
    assert png.read_bytes().startswith(PNG_SIGNATURE) and png.stat().st_size > 20_000


@pytest.mark.slow
def test_command_takes_the_folder_and_writes_the_png(grid_sweep: Path, tmp_path: Path):
    png = tmp_path / "report.png"
    done = run_module("attention_lab.report", f"log_dir={grid_sweep}", f"out={png}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("**mask_dropout_verdict_tiny: 8 runs in 4 cells")  # piped: Markdown
    assert "| mha | causal | none | 2 |" in done.stdout
    assert png.read_bytes().startswith(PNG_SIGNATURE)


@pytest.mark.slow
def test_a_folder_given_without_log_dir_is_one_line_naming_the_setting(tmp_path: Path):
    done = run_module("attention_lab.report", str(tmp_path))
    assert done.returncode == 1
    hint = f"error: {tmp_path} is not a setting: give the folder of a sweep as log_dir={tmp_path}"
    assert done.stderr.strip() == hint


@pytest.mark.slow
def test_a_directory_without_runs_is_one_clear_error(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="holds no TensorBoard runs"):
        load_runs(tmp_path / "empty")
    done = run_module("attention_lab.report", f"log_dir={tmp_path / 'missing'}")
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()  # one line: the setting, the value, what is allowed
    assert_mentions(line, "error: log_dir=", str(tmp_path / "missing"), "an existing directory")


def test_a_runs_axes_are_read_from_the_settings_it_saved(tmp_path: Path):
    """The report reads each run's checked settings back from its config.yaml (settings.Run), whatever its
    events hold; a folder whose config.yaml no run wrote is refused in one line naming it."""
    for causal in (True, False):
        run_dir = tmp_path / f"mha-{causal}" / "version_0"
        with SummaryWriter(run_dir) as writer:
            for step, loss in enumerate((7.0, 6.0)):
                writer.add_scalar("train/loss", loss + 0.5, step)
                writer.add_scalar("val/loss", loss if causal else loss - 3, step)
        cfg = compose_config(f"attention.causal={str(causal).lower()}", "seed=7", "model.pos_emb=none")
        save(checked(TrainSettings, cfg), run_dir)
    runs = load_runs(tmp_path)
    assert {(r.axes.variant, r.axes.causal, r.axes.dropout, r.axes.seed, r.axes.pos_emb) for r in runs} == {
        ("mha", True, 0.1, 7, "none"),
        ("mha", False, 0.1, 7, "none"),
    }
    assert sorted(r.final_val_loss for r in runs) == [3.0, 6.0]
    (tmp_path / "mha-True" / "version_0" / "config.yaml").write_text("seed: 7\n")
    with pytest.raises(ConfigError, match=r"config.yaml holds settings this attention-lab cannot read: "):
        load_runs(tmp_path)


@pytest.mark.slow
def test_a_variants_sweep_compares_loss_speed_and_kv_bytes_per_variant(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setattr(generation_speed, "TIMED_SECONDS", 0.05)  # timing is not under test: keep it short
    log_dir = tmp_path / "logs"
    done = run_train_script(
        "-m",
        "sweep=variants",
        "attention=mha,gqa,swa",
        "seed=1,2",
        f"paths.log_dir={log_dir}",
        *MICRO,
        "model.context_length=32",  # twice swa's window of 16
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report(log_dir / "variants_verdict_tiny", tmp_path / "curves.png", "markdown", speed=True)
    out = capsys.readouterr().out
    title, _, header, _, *rest = out[out.index("**variants:") :].splitlines()
    lines = rest[: rest.index("")]
    assert "28 new tokens" in title  # from the 4-token prompt to the end of the 32-token context
    columns = [c.strip() for c in header.strip("|").split("|")]
    rows = {
        r["variant"]: r
        for r in (
            dict(zip(columns, (c.strip() for c in line.strip("|").split("|")), strict=True)) for line in lines
        )
    }
    assert list(rows) == ["mha", "gqa", "swa"]  # the chapter's order, not the alphabet's
    for row in rows.values():
        assert row["n"] == "2"  # seeds
        speeds = ("train tokens/s", "generate tokens/s uncached", "cached", "cached ×")
        assert all(float(row[c].split()[0].replace(",", "")) > 0 for c in speeds)  # "2,603 ±45"
    # per token, over the one layer: mha keys + values of 16 numbers; gqa 2 groups of 4 each; fp32
    assert [rows[v]["KV bytes/token"] for v in ("mha", "gqa", "swa")] == ["128", "64", "128"]
    # a full context of 32 tokens; swa holds only its window of 16
    assert [rows[v]["KV cache, full context"] for v in ("mha", "gqa", "swa")] == [
        "4.1 kB",
        "2.0 kB",
        "2.0 kB",
    ]
