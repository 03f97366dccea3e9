import hashlib
import os
import urllib.request
from pathlib import Path

import pytest
import torch

from attention_lab.data.datamodule import TextDataModule
from attention_lab.data.shuffle import EpochShuffleSampler
from attention_lab.data.text import load_text
from attention_lab.data.windows import SlidingWindowDataset
from attention_lab.errors import ConfigError
from tests.helpers import data_settings


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
    dm = TextDataModule(data_settings("data.max_length=256", "data.batch_size=2"))
    train_ids, val_ids = dm.split_token_ids()
    assert (len(train_ids), len(val_ids)) == (4612, 534)
    dm.setup("fit")
    # the book's chapter 5 loaders: 9 train batches of 2 (drop_last), 2 val windows
    assert len(dm.train_dataloader()) == 9
    assert len(dm.val_set) == 2


def test_documents_joined_by_end_of_text_become_its_token(tmp_path: Path):
    text = tmp_path / "two.txt"
    text.write_text("The first story ends here.<|endoftext|>A second one begins.")
    data = TextDataModule(data_settings(f"data.path={text}", "data.train_ratio=0.9"))
    train_ids, val_ids = data.split_token_ids()
    assert 50256 in torch.cat([train_ids, val_ids]).tolist()  # one token, as the book encodes it (2.4)


def test_train_loader_shuffles_per_epoch_and_drops_last_val_loader_does_not():
    dm = TextDataModule(data_settings("data.max_length=64", "data.stride=50", "data.batch_size=8"))
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


# --- data.path: each kind of unusable file gets its own line naming data.path -----------------------------
def test_a_missing_text_of_ones_own_is_refused_as_missing(tmp_path: Path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(
        ConfigError,
        match=rf"^data.path={missing} is not allowed: it does not exist; give "
        r"the path of a UTF-8 text file$",
    ):
        load_text(missing)
    assert not missing.exists()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "{tmp}",
            r"^data.path={tmp} is not allowed: it is a directory; give a UTF-8 text file, e.g. "
            r"data.path={tmp}/",
        ),
        ("/dev/null", r"^data.path=/dev/null is not allowed: it is not a regular file \(a device"),
        ("/dev/zero", r"^data.path=/dev/zero is not allowed: it is not a regular file \(a device"),
    ],
)
def test_directory_or_device_is_refused_and_nothing_downloaded(path, message, tmp_path: Path, monkeypatch):
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: pytest.fail("nothing may be downloaded"))
    before = sorted(tmp_path.iterdir())
    with pytest.raises(ConfigError, match=message.format(tmp=tmp_path)):
        load_text(path.format(tmp=tmp_path), url="https://example.org/the-verdict.txt")
    assert sorted(tmp_path.iterdir()) == before


def test_unreadable_file(tmp_path: Path, monkeypatch):
    text = tmp_path / "secret.txt"
    text.write_text("words")
    text.chmod(0)
    if os.geteuid() == 0:  # root reads any file: make reading fail as it does for other users

        def denied(self):
            raise PermissionError(13, "Permission denied", str(self))

        monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(
        ConfigError,
        match=rf"^data.path={text} is not allowed: it cannot be "
        r"read \(Permission denied\)",
    ):
        load_text(text)


def test_text_not_utf8(tmp_path: Path):
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Gisburn's café".encode("latin-1"))
    with pytest.raises(
        ConfigError,
        match=rf"^data.path={latin1} is not allowed: it is not "
        r"UTF-8 text \(byte 13 cannot be decoded\)",
    ):
        load_text(latin1)


def test_empty_text(tmp_path: Path):
    (tmp_path / "empty.txt").write_text(" \n\n")
    with pytest.raises(ConfigError, match=r"empty.txt is not allowed: it is empty; give a UTF-8 text"):
        load_text(tmp_path / "empty.txt")


# --- downloads: only to a path that does not exist yet, complete and hash-checked or not at all --------
def test_download_with_wrong_checksum_leaves_nothing_behind(tmp_path: Path):
    source = tmp_path / "source.txt"
    source.write_text("not the verdict")
    target = tmp_path / "data" / "text.txt"
    with pytest.raises(
        ConfigError,
        match=rf"^data.path={target} is not allowed: it does not "
        r"exist and .* has sha256",
    ):
        load_text(target, url=source.as_uri(), sha256="0" * 64)
    assert not target.parent.exists()  # the hash is checked before anything is written
    assert load_text(target, url=source.as_uri(), sha256=None) == "not the verdict"
    assert target.read_text() == "not the verdict"
    assert [p.name for p in target.parent.iterdir()] == ["text.txt"]


def test_a_file_that_appears_during_the_download_is_kept_and_checked(tmp_path: Path, monkeypatch):
    """Another run's download (two jobs of a parallel sweep) or the user's own copy: never overwritten; read
    when its hash is right, refused when it is not."""
    source = tmp_path / "source.txt"
    source.write_text("downloaded")
    target = tmp_path / "text.txt"
    real_urlopen = urllib.request.urlopen
    meanwhile = {"text": "downloaded"}

    def urlopen_while_another_writes(*args, **kwargs):
        target.write_text(meanwhile["text"])
        return real_urlopen(*args, **kwargs)

    monkeypatch.setattr("urllib.request.urlopen", urlopen_while_another_writes)
    sha256 = hashlib.sha256(b"downloaded").hexdigest()
    assert load_text(target, url=source.as_uri(), sha256=sha256) == "downloaded"  # the other run's copy
    target.unlink()
    meanwhile["text"] = "the user's own text"
    with pytest.raises(ConfigError, match=r"\(a truncated or altered copy\): delete it to download it again"):
        load_text(target, url=source.as_uri(), sha256=sha256)
    assert target.read_text() == "the user's own text"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source.txt", "text.txt"]


def test_an_existing_file_named_like_a_partial_download_is_kept(tmp_path: Path):
    source = tmp_path / "source.txt"
    source.write_text("downloaded")
    keep = tmp_path / "text.txt.part"
    keep.write_text("mine")
    assert load_text(tmp_path / "text.txt", url=source.as_uri()) == "downloaded"
    assert keep.read_text() == "mine"


def test_shuffle_order_depends_only_on_seed_and_epoch() -> None:
    sampler = EpochShuffleSampler(range(50), seed=123)
    first_epoch = list(sampler)
    sampler.set_epoch(1)
    assert sorted(sampler) == list(range(50)) and list(sampler) != first_epoch
    sampler.set_epoch(0)
    assert list(sampler) == first_epoch
