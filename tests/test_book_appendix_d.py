"""`experiment=book_appendix_d` trains as the book's Appendix D `train_model` does: linear warmup, cosine
decay and gradient clipping after the warmup, on chapter 5's random stream. Checked on a micro model against
the book's own function from the `llms-from-scratch` package."""

from __future__ import annotations

import io
import math
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from attention_lab import tags
from attention_lab.data.datamodule import TextDataModule
from attention_lab.data.tokenizer import gpt2_tokenizer
from attention_lab.data.windows import SlidingWindowDataset
from attention_lab.model import GPTModel
from attention_lab.settings import TrainSettings, checked
from attention_lab.training.module import warmup_cosine_schedule
from tests.helpers import book_micro_config, scalars, train

EPOCHS, WARMUP = 2, 6


def test_schedule_is_appendix_ds_formula():
    lrs = [warmup_cosine_schedule(1e-3, 135, 27, initial_lr=1e-5, min_lr=1e-5)(s) for s in range(135)]
    assert lrs[0] == 1e-5 and lrs[26] == pytest.approx(1e-5 + 26 * (1e-3 - 1e-5) / 27)
    assert lrs[27] == pytest.approx(1e-3)  # the peak, right after the warmup
    assert lrs[-1] == pytest.approx(1e-5 + (1e-3 - 1e-5) * 0.5 * (1 + math.cos(math.pi * 107 / 108)))
    assert all(a >= b for a, b in zip(lrs[27:-1], lrs[28:], strict=True))  # decays monotonically
    constant = warmup_cosine_schedule(1e-3, 100, 10)
    assert constant(0) == 0.0 and constant(50) == constant(99) == 1e-3  # min_lr=None: no decay


def appendix_d_config(tmp_path: Path, text: str, *overrides: str):
    return book_micro_config(
        "book_appendix_d",
        tmp_path,
        text,
        "optimizer.lr=5e-2",  # large enough that the clipping acts
        f"optimizer.warmup_steps={WARMUP}",
        f"trainer.max_epochs={EPOCHS}",
        "callbacks.checkpoints=null",
        *overrides,
    )


def books_train_model(cfg) -> tuple[list[float], list[float], list[float]]:
    """The book's Appendix D recipe: seed, loaders, seed, model, AdamW, then `appendix_d.train_model`."""
    appendix_d = pytest.importorskip("llms_from_scratch.appendix_d")
    settings = checked(TrainSettings, cfg)
    data = TextDataModule(settings.data)
    train_ids, val_ids = data.split_token_ids()
    length, batch_size = cfg.data.max_length, cfg.data.batch_size
    torch.manual_seed(cfg.seed)
    train = DataLoader(
        SlidingWindowDataset(train_ids, length, length), batch_size, shuffle=True, drop_last=True
    )
    val = DataLoader(SlidingWindowDataset(val_ids, length, length), batch_size)
    torch.manual_seed(cfg.seed)
    model = GPTModel(settings.model, settings.attention)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.optimizer.lr, weight_decay=0.1)
    with redirect_stdout(io.StringIO()):  # it prints its log and samples
        train_losses, val_losses, _, lrs = appendix_d.train_model(
            model, train, val, optimizer, "cpu", n_epochs=EPOCHS, eval_freq=5, eval_iter=1,
            start_context="Every effort moves you", tokenizer=gpt2_tokenizer(), warmup_steps=WARMUP,
            initial_lr=cfg.optimizer.initial_lr, min_lr=cfg.optimizer.min_lr,
        )  # fmt: skip
    return train_losses, val_losses, lrs


@pytest.fixture(scope="module")
def books_run(tmp_path_factory, verdict_text):
    return books_train_model(appendix_d_config(tmp_path_factory.mktemp("book"), verdict_text))


@pytest.mark.slow
def test_book_appendix_d_retraces_the_books_train_model(books_run, tmp_path, verdict_text):
    cfg = appendix_d_config(tmp_path, verdict_text)
    book_train, book_val, book_lrs = books_run
    read = scalars(train(cfg)["version_dir"], ("lr-", "book/"))
    logged = {tag: list(values.values()) for tag, values in read.items()}
    lrs = logged["lr-AdamW"]
    assert len(lrs) == len(book_lrs) == EPOCHS * 14
    assert lrs == pytest.approx(book_lrs, rel=1e-6)
    # Evaluations on the book's steps: equal where the loss moves by ~1e-2 with another batch or mask.
    assert logged[tags.BOOK_TRAIN_LOSS] == pytest.approx(book_train, rel=1e-5)
    assert logged[tags.BOOK_VAL_LOSS] == pytest.approx(book_val, rel=1e-5)


@pytest.mark.slow
def test_without_clipping_the_run_leaves_the_books_path(books_run, tmp_path, verdict_text):
    """The control: the same run without gradient clipping ends elsewhere."""
    cfg = appendix_d_config(tmp_path, verdict_text, "trainer.gradient_clip_val=null")
    book_train, _, _ = books_run
    logged = scalars(train(cfg)["version_dir"], tags.BOOK_TRAIN_LOSS)[tags.BOOK_TRAIN_LOSS]
    assert list(logged.values()) != pytest.approx(book_train, rel=1e-3)
