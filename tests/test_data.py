from pathlib import Path

import pytest
import torch

from attention_lab.data import EpochShuffleSampler, SlidingWindowDataset, TextDataModule, load_text
from attention_lab.errors import ConfigError
from tests.helpers import VERDICT


def test_windows_and_shifted_targets_by_hand():
    ds = SlidingWindowDataset(list(range(10)), max_length=4, stride=3)
    # starts at 0 and 3 (range(0, 10 - 4, 3)); 6 would need token 10 for its last target
    assert len(ds) == 2
    x, y = ds[1]
    assert x.tolist() == [3, 4, 5, 6]
    assert y.tolist() == [4, 5, 6, 7]
    assert x.dtype == torch.long


@pytest.mark.parametrize(
    "n,max_length,stride", [(10, 4, 1), (10, 4, 4), (100, 16, 5), (17, 16, 16), (16, 16, 1)]
)
def test_window_count_matches_the_books_gpt_dataset_v1(n, max_length, stride):
    book_count = sum(1 for _ in range(0, n - max_length, stride))  # GPTDatasetV1's loop
    ds = SlidingWindowDataset(list(range(n)), max_length, stride)
    assert len(ds) == book_count
    for i in range(len(ds)):
        x, y = ds[i]
        assert torch.equal(y[:-1], x[1:])


def test_verdict_split_matches_the_book():
    dm = TextDataModule(path=str(VERDICT), max_length=256, stride=256, batch_size=2)
    train_ids, val_ids = dm.split_token_ids()
    assert (len(train_ids), len(val_ids)) == (4612, 534)
    dm.setup("fit")
    # the book's chapter 5 loaders: 9 train batches of 2 (drop_last), 2 val windows
    assert len(dm.train_dataloader()) == 9
    assert len(dm.val_set) == 2


def test_train_loader_shuffles_per_epoch_and_drops_last_val_loader_does_not():
    dm = TextDataModule(path=str(VERDICT), max_length=64, stride=50, batch_size=8)
    dm.setup("fit")
    train, val = dm.train_dataloader(), dm.val_dataloader()
    assert len(train) == len(dm.train_set) // 8
    assert len(val) == -(-len(dm.val_set) // 8)

    def first_windows(epoch: int) -> list[int]:
        train.sampler.set_epoch(epoch)  # what Lightning does at each epoch start
        return next(iter(train))[0][:, 0].tolist()

    assert first_windows(0) != first_windows(1)  # reshuffled every epoch ...
    assert first_windows(1) == first_windows(1)  # ... in an order fixed by (seed, epoch): resumable
    starts = [i for batch in iter(train) for i in batch[0][:, 0].tolist()]
    assert len(starts) == len(train) * 8  # full batches only; the remainder is dropped
    assert torch.equal(next(iter(val))[0], next(iter(val))[0])
    assert torch.equal(next(iter(val))[0][0], dm.val_set[0][0])  # validation in order


def test_missing_text_without_url_says_where_to_put_it(tmp_path: Path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(ConfigError, match="data.path="):
        load_text(missing)
    assert not missing.exists()


def test_download_with_wrong_checksum_leaves_nothing_behind(tmp_path: Path, monkeypatch):
    source = tmp_path / "source.txt"
    source.write_text("not the verdict")
    target = tmp_path / "data" / "text.txt"
    with pytest.raises(ConfigError, match="sha256"):
        load_text(target, url=source.as_uri(), sha256="0" * 64)
    assert not target.exists() and not target.with_name("text.txt.part").exists()
    assert load_text(target, url=source.as_uri(), sha256=None) == "not the verdict"
    assert target.read_text() == "not the verdict"


def test_shuffle_order_depends_only_on_seed_and_epoch() -> None:
    sampler = EpochShuffleSampler(range(50), seed=123)
    first_epoch = list(sampler)
    sampler.set_epoch(1)
    assert sorted(sampler) == list(range(50)) and list(sampler) != first_epoch
    sampler.set_epoch(0)
    assert list(sampler) == first_epoch
