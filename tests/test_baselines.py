"""Section 3.1's baselines beside attention: `none` (no mixing) and `gru` (a recurrent layer), and the
validation loss at each position of the window."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from attention_lab.attention import KVCache, build_attention
from attention_lab.data.datamodule import TextDataModule
from attention_lab.kv_memory import describe
from attention_lab.model import AttentionConfig, GPTModel, ModelConfig
from attention_lab.model.kv_bytes import kv_cache_bytes
from attention_lab.report.quality import QUALITY
from attention_lab.report.runs import RunSummary
from attention_lab.report.stats import effects, group_cells
from attention_lab.report.tables import position_rows
from attention_lab.run_record import RunAxes
from attention_lab.training.position_loss import PositionMean, logged_positions
from tests.helpers import compose_config, data_settings, lit_gpt

D, CONTEXT = 8, 10


@pytest.mark.parametrize("causal", [True, False])
def test_none_gives_each_position_its_own_input_only(causal: bool) -> None:
    module = build_attention("none", d_in=D, d_out=D, context_length=CONTEXT, causal=causal).eval()
    x = torch.randn(2, CONTEXT, D)
    for position in (0, 4, CONTEXT - 1):
        changed = x.clone()
        changed[:, position] = torch.randn(2, D)
        moved = (module(changed) != module(x)).any(dim=-1).any(dim=0)  # (T,): which outputs changed
        assert moved.tolist() == [t == position for t in range(CONTEXT)]


def test_gru_reads_both_ways_without_the_mask_and_only_the_past_when_forced_causal() -> None:
    gru = build_attention("gru", d_in=D, d_out=D, context_length=CONTEXT, causal=False).eval()
    x = torch.randn(1, CONTEXT, D)
    changed = x.clone()
    changed[:, 7:] = torch.randn(1, CONTEXT - 7, D)
    assert not torch.allclose(gru(changed)[:, :7], gru(x)[:, :7])  # a bidirectional RNN sees the answer
    gru.causal = True  # what GPTModel.causal_mask_forced does for val/loss_causal: no later token exists
    torch.testing.assert_close(gru(changed)[:, :7], gru(x)[:, :7])


def test_gru_state_is_its_cache_whatever_the_context() -> None:
    sizes = dict(n_layers=2, emb_dim=32, n_heads=4, batch_size=3)
    short, long = (kv_cache_bytes("gru", **sizes, context_length=n) for n in (16, 4096))
    assert short == long == 2 * 32 * 3 * 4  # layers · state · batch · fp32 bytes
    mha = [kv_cache_bytes("mha", **sizes, context_length=n) for n in (16, 4096)]
    assert mha[1] == 256 * mha[0]  # an attention variant's cache grows with the context
    assert kv_cache_bytes("none", **sizes, context_length=4096) == 0
    gru = build_attention("gru", d_in=32, d_out=32, context_length=16).eval()
    cache = KVCache()
    for _ in range(5):  # one token at a time: the cache never grows
        gru(torch.randn(3, 1, 32), cache)
        assert cache.nbytes() == 32 * 3 * 4
    printed = describe(compose_config("attention=gru", "context_length=4096", config_name="kv_memory"))
    # tiny: 2 layers · a state of 64 · 4 bytes
    assert printed.endswith("0 bytes per cached token and a state of 512 bytes per sequence")


@pytest.mark.parametrize("name", ["none", "gru"])
def test_a_gpt_without_attention_has_no_heatmaps_to_show_but_none_attends_to_itself(name: str) -> None:
    micro = ModelConfig(name="micro", vocab_size=97, context_length=8, emb_dim=16, n_layers=2, n_heads=2)
    maps = GPTModel(micro, AttentionConfig(name=name)).attention_maps(torch.randint(0, 97, (1, 5)))
    if name == "gru":
        assert maps == []
    else:
        assert all(torch.equal(m[0, 0], torch.eye(5)) for m in maps)


def test_the_mean_by_position_covers_the_positions_windows_reached() -> None:
    mean = PositionMean(context_length=5)
    mean.update(torch.tensor([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]]))  # windows of 3 tokens: shorter than 5
    mean.update(torch.tensor([[5.0, 6.0]]))
    torch.testing.assert_close(mean.curve(), torch.tensor([3.0, 4.0, 4.0]))


def test_a_one_token_window_has_a_curve_of_one_position() -> None:
    mean = PositionMean(context_length=4)
    mean.update(torch.tensor([[2.0], [4.0]]))  # data.max_length=1
    torch.testing.assert_close(mean.curve(), torch.tensor([3.0]))


@pytest.mark.parametrize(
    ("overrides", "compared"),
    [(["data.val_stride=1"], True), (["data.stride=1"], True), (["data.val_stride=4"], False), ([], False),
     (["data=recall"], False)],
)  # fmt: skip
def test_the_report_shows_the_loss_by_position_of_runs_validated_on_windows_of_stride_1(overrides, compared):
    assert data_settings(*overrides).positions_compare_contexts is compared


def test_logged_positions_double_up_to_the_context() -> None:
    assert logged_positions(16) == [1, 2, 4, 8, 16]
    assert logged_positions(24) == [1, 2, 4, 8, 16, 24]
    assert logged_positions(1) == [1]


@pytest.mark.parametrize("name", ["mha", "gru"])
def test_the_loss_by_position_averages_back_to_the_val_loss(name: str, tmp_path) -> None:
    sizes = ["model.context_length=12", "model.emb_dim=16", "model.n_layers=1"]
    module = lit_gpt(f"attention={name}", *sizes)
    data = TextDataModule(data_settings("data.max_length=12", "data.batch_size=8"))
    quiet = dict(enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer = L.Trainer(logger=False, num_sanity_val_steps=0, default_root_dir=tmp_path, **quiet)
    trainer.validate(module, datamodule=data)  # the last batch is smaller: the mean weighs windows alike
    by_position = module.loss_by_position
    assert by_position.shape == (12,)
    assert float(by_position.mean()) == pytest.approx(float(trainer.callback_metrics["val/loss"]), abs=1e-5)
    logged = trainer.callback_metrics["val_loss_by_position/position_8"]
    assert float(logged) == pytest.approx(float(by_position[7]))


def run(variant: str, seed: int, losses: dict[int, float]) -> RunSummary:
    nan = float("nan")
    best = sum(losses.values()) / len(losses)
    axes = RunAxes(variant=variant, causal=True, dropout=0.0, seed=seed)
    losses_at = {"loss_by_position": losses}
    return RunSummary(axes.run_name, axes, QUALITY["text"], nan, nan, best, nan, nan, [], [], [], **losses_at)


def test_the_report_gives_the_loss_by_position_and_what_the_context_gains() -> None:
    [attention, flat] = group_cells([
        run("mha", 1, {1: 7.0, 2: 6.0, 4: 5.0}), run("mha", 2, {1: 7.2, 2: 6.1, 4: 5.1}),
        run("none", 1, {1: 7.0, 2: 7.0, 4: 7.0}), run("none", 2, {1: 7.1, 2: 7.1, 4: 7.1}),
    ])  # fmt: skip
    headers, rows = position_rows([attention, flat])
    assert headers[-4:] == ["best val", "position 1", "position 2", "position 4"]
    assert rows[0][-3].startswith("7.100 ±") and rows[1][-1].startswith("7.050 ±")
    context = {e.where.split(",")[0]: e for e in effects([attention, flat]) if e.effect == "context"}
    assert context["mha"].measure == "Δ val loss (position 4 − 1)"
    assert context["mha"].difference == pytest.approx(-2.05)
    assert context["mha"].verdict == "exceeds seed spread"
    assert context["none"].difference == pytest.approx(0.0)
    assert context["none"].verdict == "within seed noise"
