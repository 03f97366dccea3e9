"""TensorBoard extras: when the sample and heatmaps are written, what a heatmap says, no `epoch` card."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from attention_lab.model.config import AttentionConfig, ModelConfig
from attention_lab.model.generation import continue_text
from attention_lab.model.gpt import GPTModel
from attention_lab.training.heatmaps import HeatmapFigure
from attention_lab.training.tensorboard import TensorBoardExtras, TensorBoardLogger
from tests.helpers import MICRO, scalars, train

BATCHES, VAL_CHECK_BATCH = 143, 35  # an epoch of The Verdict's mask_dropout regime, validated 4 times


def trainer(epoch: int, max_epochs: int = 10, batches_left: int = 0) -> SimpleNamespace:
    """A Trainer at a validation in epoch `epoch`, `batches_left` training batches before its end."""
    return SimpleNamespace(
        current_epoch=epoch,
        max_epochs=max_epochs,
        max_steps=-1,
        global_step=(epoch + 1) * BATCHES - batches_left,
        estimated_stepping_batches=max_epochs * BATCHES if max_epochs > 0 else float("inf"),
        val_check_batch=VAL_CHECK_BATCH,
        should_stop=False,
        is_last_batch=batches_left == 0,
    )


def due_epochs(extras: TensorBoardExtras, max_epochs: int = 10) -> list[int]:
    return [e for e in range(max_epochs) if extras.is_due(trainer(e, max_epochs))]


def test_every_n_epochs_and_always_the_last():
    extras = TensorBoardExtras({}, every_n_epochs=3, max_time_share=None)
    assert due_epochs(extras) == [2, 5, 8, 9]
    assert due_epochs(TensorBoardExtras({}, max_time_share=None)) == list(range(10))
    assert not TensorBoardExtras({}, every_n_epochs=3).is_due(trainer(0, max_epochs=-1))  # no last epoch


def test_the_runs_last_validation_is_due_even_before_the_epochs_end():
    extras = TensorBoardExtras({}, max_time_share=0.05)  # trainer.val_check_interval=0.25: 4 per epoch
    extras.fit_started, extras.last_call_seconds = 0.0, 1e12  # no room left under the cap
    assert not extras.is_due(trainer(9, batches_left=38))  # batch 105 of 143: another validation follows
    assert extras.is_due(trainer(9, batches_left=3))  # batch 140 of 143: the run's last validation
    assert extras.is_due(trainer(9))


def test_a_costly_call_is_skipped_until_the_last_epoch():
    extras = TensorBoardExtras({}, max_time_share=0.05)
    extras.fit_started = 0.0  # perf_counter() is far beyond: a long fit so far ...
    extras.last_call_seconds = extras.extras_seconds = 1e12  # ... but calls that took longer still
    assert due_epochs(extras) == [9]
    extras.last_call_seconds = extras.extras_seconds = 0.0
    assert due_epochs(extras) == list(range(10))


def test_the_cap_holds_back_the_last_epochs_call():
    extras = TensorBoardExtras({}, max_time_share=0.05)  # 5% of 100 s so far: 5 s
    extras.fit_started = time.perf_counter() - 100.0
    extras.extras_seconds, extras.last_call_seconds = 2.0, 1.4  # 2 + this 1.4 + the last 1.4 = 4.8 s
    assert extras.is_due(trainer(4))
    extras.last_call_seconds = 1.6  # 2 + 1.6 + 1.6 = 5.2 s: only the last epoch's call fits
    assert not extras.is_due(trainer(4))
    assert extras.is_due(trainer(9))


def test_a_reused_heatmap_figure_renders_what_a_fresh_one_does():
    tokens, first_title = ["Your", " journey", " starts"], "mha · causal mask on\nlayer 0 · epoch 0"
    title = "mha · causal mask on\nlayer 1 · epoch 3"
    maps = [
        torch.softmax(torch.randn(2, 3, 3, generator=torch.Generator().manual_seed(s)), -1) for s in (0, 1)
    ]
    reused = HeatmapFigure(maps[0], tokens, first_title)
    earlier = reused.render(maps[0], first_title)
    later = reused.render(maps[1], title)  # new maps under a new title
    fresh = HeatmapFigure(maps[1], tokens, first_title).render(maps[1], title)
    assert later.shape == earlier.shape and later.dtype.name == "uint8" and later.shape[-1] == 3
    assert (later == fresh).all()  # nothing of the earlier maps or title is left behind
    assert (later != earlier).any()


def test_logger_writes_no_epoch_scalar(tmp_path: Path):
    logger = TensorBoardLogger(save_dir=tmp_path, name="run")
    logger.log_metrics({"epoch": 1.0, "val/loss": 2.0}, step=3)
    logger.finalize("success")
    assert scalars(logger.log_dir, "") == {"val/loss": {3: 2.0}}


def test_a_context_shorter_than_the_heatmap_sentence_maps_its_first_tokens(fast_config) -> None:
    """The chapter 3 sentence has six tokens; a model of context 2 gets heatmaps of its first two."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = fast_config(*MICRO, "model.context_length=2", "callbacks.tensorboard_extras.attention_maps=true")
    events = EventAccumulator(train(cfg)["version_dir"], size_guidance={"images": 0})
    events.Reload()
    assert "val_attention/layer_0" in events.Tags()["images"]


def test_samples_continue_the_datas_prompt_greedily_and_sampled_without_touching_the_rng():
    torch.manual_seed(0)
    model = GPTModel(
        ModelConfig(context_length=16, emb_dim=16, n_layers=1, n_heads=2, drop_rate=0.0),
        AttentionConfig(dropout=0.0),
    ).eval()

    module = SimpleNamespace(model=model, device=torch.device("cpu"))
    extras = TensorBoardExtras(axes={}, sample_tokens=12, sample_temperature=1.0, sample_top_k=40)
    state = torch.get_rng_state()
    greedy, sampled = extras.samples(module, "ROMEO:")
    assert torch.equal(torch.get_rng_state(), state)  # the run's next dropout mask is the one it would draw
    assert greedy == textwrap.indent(continue_text(model, "ROMEO:", 12), "    ", lambda line: True)
    assert sampled.startswith("    ROMEO:") and sampled != greedy
    assert extras.samples(module, "ROMEO:") == (greedy, sampled)  # a fixed seed: comparable across steps
