"""`experiment=book_ch05` follows the book's `train_model_simple` step for step: same initial weights, same
batches, same dropout masks, same evaluations. Checked on a micro model against the book's loop written
out in plain PyTorch; the full-size run reproduces the book's printed log (README "Reproducing chapter 5")."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from attention_lab import tags
from attention_lab.data.datamodule import TextDataModule
from attention_lab.data.windows import SlidingWindowDataset
from attention_lab.model import GPTModel
from attention_lab.settings import TrainSettings, checked
from tests.helpers import book_micro_config, scalars, train

pytestmark = pytest.mark.slow  # trains the book's chapter 5 run, three times

EPOCHS, EVERY, EVAL_BATCHES = 2, 5, 5


def book_ch05_config(tmp_path: Path, text: str, *overrides: str):
    return book_micro_config(
        "book_ch05",
        tmp_path,
        text,
        "optimizer.lr=5e-3",  # the micro model learns visibly within 28 steps
        f"trainer.max_epochs={EPOCHS}",
        *(overrides or ["callbacks.checkpoints=null"]),
    )


def books_training_loop(cfg) -> tuple[list[float], dict[int, tuple[float, float]]]:
    """Section 5.2 as the book writes it: seed, loaders, seed, model, AdamW, then per batch one update and
    every `EVERY` updates `evaluate_model` on the first batches of both loaders. Returns the per-step
    training losses and {step: (train loss, val loss)} of the evaluations."""
    settings = checked(TrainSettings, cfg)
    data = TextDataModule(settings.data)
    train_ids, val_ids = data.split_token_ids()
    torch.manual_seed(cfg.seed)
    length, batch_size = cfg.data.max_length, cfg.data.batch_size
    train_loader = DataLoader(
        SlidingWindowDataset(train_ids, length, length), batch_size=batch_size, shuffle=True, drop_last=True
    )
    val_loader = DataLoader(SlidingWindowDataset(val_ids, length, length), batch_size=batch_size)
    torch.manual_seed(cfg.seed)
    model = GPTModel(settings.model, settings.attention)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.optimizer.lr, weight_decay=0.1)

    def batch_loss(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(model(inputs).flatten(0, 1), targets.flatten())

    def loader_loss(loader: DataLoader) -> float:
        losses = []
        for i, (inputs, targets) in enumerate(loader):
            if i == EVAL_BATCHES:
                break
            losses.append(batch_loss(inputs, targets).item())
        return sum(losses) / len(losses)

    step_losses, evaluations, step = [], {}, -1
    for _ in range(EPOCHS):
        model.train()
        for inputs, targets in train_loader:
            optimizer.zero_grad()
            loss = batch_loss(inputs, targets)
            loss.backward()
            optimizer.step()
            step_losses.append(loss.item())
            step += 1
            if step % EVERY == 0:
                model.eval()
                with torch.no_grad():
                    evaluations[step] = (loader_loss(train_loader), loader_loss(val_loader))
                model.train()
    return step_losses, evaluations


def logged(log_dir: str) -> tuple[list[float], dict[int, tuple[float, float]]]:
    logged = scalars(log_dir, ("train/loss", "book/"))
    train, val = logged[tags.BOOK_TRAIN_LOSS], logged[tags.BOOK_VAL_LOSS]
    assert train.keys() == val.keys()
    return list(logged[tags.TRAIN_LOSS].values()), {step: (train[step], val[step]) for step in train}


@pytest.fixture(scope="module")
def books_run(tmp_path_factory, verdict_text):
    cfg = book_ch05_config(tmp_path_factory.mktemp("book"), verdict_text)
    return cfg, books_training_loop(cfg)


def assert_on_the_books_path(log_dir: str, books_run) -> None:
    _, (book_losses, book_evaluations) = books_run
    step_losses, evaluations = logged(log_dir)
    assert len(book_losses) == EPOCHS * 14 and sorted(book_evaluations) == [0, 5, 10, 15, 20, 25]
    # The config's fused loss and AdamW against the book's plain ones, logged in float32: equal to ~1e-7,
    # where another batch or dropout mask moves the losses by ~1e-2.
    assert step_losses == pytest.approx(book_losses, rel=1e-6)
    assert evaluations.keys() == book_evaluations.keys()
    for step, (train_loss, val_loss) in book_evaluations.items():
        assert evaluations[step] == pytest.approx((train_loss, val_loss), rel=1e-6)


def test_book_ch05_retraces_the_books_training_loop(books_run, caplog):
    cfg, (_, book_evaluations) = books_run
    with caplog.at_level("INFO", logger="attention_lab.training.callbacks"):
        metrics = train(cfg)
    assert_on_the_books_path(metrics["version_dir"], books_run)
    train_loss, val_loss = book_evaluations[0]
    assert f"Ep 1 (Step 000000): Train loss {train_loss:.3f}, Val loss {val_loss:.3f}" in caplog.messages


def test_a_resumed_book_ch05_run_stays_on_the_books_path(books_run, tmp_path, verdict_text):
    """Killed after epoch 1 and resumed: the checkpoint's RNG state carries the shuffling and dropout."""
    first = book_ch05_config(tmp_path, verdict_text, "trainer.max_epochs=1")
    train(first)
    resumed = train(book_ch05_config(tmp_path, verdict_text, "ckpt_path=last"))
    assert_on_the_books_path(resumed["version_dir"], books_run)


def test_seeded_shuffling_takes_another_path(books_run, tmp_path, verdict_text):
    """The default shuffling does not touch the RNG dropout uses: the same start, other batches."""
    _, (book_losses, _) = books_run
    cfg = book_ch05_config(tmp_path, verdict_text, "data.shuffle=seeded", "trainer.max_epochs=1")
    step_losses, _ = logged(train(cfg)["version_dir"])
    assert step_losses != pytest.approx(book_losses[: len(step_losses)], rel=1e-3)
