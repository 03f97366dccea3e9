"""data=shakespeare: the hash-checked download (from a server on 127.0.0.1, never the network), damaged
copies refused, and the windows of the larger corpus equal to the book's."""

from __future__ import annotations

import functools
import hashlib
import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from attention_lab.data.datamodule import TextDataModule
from attention_lab.data.text import load_text
from attention_lab.data.tokenizer import gpt2_tokenizer
from attention_lab.errors import ConfigError
from tests.helpers import ROOT, compose_config, data_settings, train

SHAKESPEARE = ROOT / "data" / "tinyshakespeare.txt"
# A stand-in for the corpus where its bytes do not matter: the download and hash checks are the same.
TEXT = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 40
).encode()


@pytest.fixture(scope="module")
def shakespeare() -> bytes:
    if not SHAKESPEARE.exists():
        pytest.skip("data/tinyshakespeare.txt is not here (.ci/run copies it from ../shared/data)")
    return SHAKESPEARE.read_bytes()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1, and its URL."""
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_the_config_names_tiny_shakespeare_and_its_sha256(shakespeare: bytes):
    data = compose_config("data=shakespeare").data
    assert data.name == "shakespeare" and data.path == data.source.path
    assert data.path.endswith("data/tinyshakespeare.txt")
    assert data.source.url.endswith("karpathy/char-rnn/master/data/tinyshakespeare/input.txt")
    assert hashlib.sha256(shakespeare).hexdigest() == data.source.sha256
    assert len(shakespeare.decode()) == 1_115_394


# --- the download: hash-checked, whole or not at all ---------------------------------------------------
def test_download_from_a_server_is_hash_checked_and_complete(server, tmp_path: Path):
    served, url = server
    (served / "input.txt").write_bytes(TEXT)
    target = tmp_path / "data" / "tinyshakespeare.txt"
    assert load_text(target, f"{url}/input.txt", hashlib.sha256(TEXT).hexdigest()) == TEXT.decode()
    assert target.read_bytes() == TEXT
    assert [p.name for p in target.parent.iterdir()] == ["tinyshakespeare.txt"]  # no temporary file left


@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
def test_a_damaged_download_is_refused_in_one_line_and_not_kept(damage: str, server, tmp_path: Path):
    served, url = server
    damaged = TEXT[: len(TEXT) // 2] if damage == "truncated" else TEXT.replace(b"speak", b"sp3ak", 1)
    (served / "input.txt").write_bytes(damaged)
    sha256 = hashlib.sha256(TEXT).hexdigest()
    target = tmp_path / "data" / "tinyshakespeare.txt"
    with pytest.raises(ConfigError) as refused:
        load_text(target, f"{url}/input.txt", sha256)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"data.path={target} is not allowed: it does not exist and the file downloaded")
    assert f"has sha256 {hashlib.sha256(damaged).hexdigest()}, expected {sha256}" in message
    assert not target.exists() and not target.parent.exists()  # checked before anything is written


@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
def test_a_damaged_copy_on_disk_is_refused_in_one_line_and_left_as_it_is(damage: str, tmp_path: Path):
    damaged = TEXT[:500] if damage == "truncated" else b"X" + TEXT[1:]
    path = tmp_path / "tinyshakespeare.txt"
    path.write_bytes(damaged)
    sha256 = hashlib.sha256(TEXT).hexdigest()
    expected = (
        rf"^data.path={re.escape(str(path))} is not allowed: its {len(damaged):,} bytes have sha256 \w+, "
        rf"expected {sha256} \(a truncated or altered copy\): delete it to download it again, or .* "
        r"data.source.sha256=null$"
    )
    with pytest.raises(ConfigError, match=expected):
        load_text(path, "http://127.0.0.1:9/never-asked", sha256)
    assert path.read_bytes() == damaged
    assert load_text(path, None, None) == damaged.decode()  # data.source.sha256=null: trained on as it is


def test_the_command_line_refuses_a_damaged_copy_before_training(tmp_path: Path):

    path = tmp_path / "tinyshakespeare.txt"
    path.write_bytes(TEXT)  # not Tiny Shakespeare: another sha256 than the config's
    cfg = compose_config("data=shakespeare", f"data.source.path={path}", log_dir=tmp_path / "logs")
    with pytest.raises(ConfigError, match=r"\(a truncated or altered copy\)"):
        train(cfg)
    assert not list((tmp_path / "logs").rglob("events.out.tfevents.*"))  # no run was started


def test_a_text_of_ones_own_is_read_as_it_is(tmp_path: Path):
    """data.path=<another file>: the user's own text, which the hash of the data set's download does not
    concern; it gets the checks every text gets (here: too short for a window)."""
    path = tmp_path / "mine.txt"
    path.write_bytes(TEXT)
    mine = ("data=shakespeare", f"data.path={path}")
    assert TextDataModule(data_settings(*mine)).config.read_text() == TEXT.decode()
    with pytest.raises(ConfigError, match=r"^data.max_length=64 is not allowed: a window and its target"):
        TextDataModule(data_settings(*mine, "data.train_ratio=0.99")).setup()


# --- the windows of the larger corpus --------------------------------------------------------------------
def test_windows_match_the_books_dataset_on_a_prefix(shakespeare: bytes, tmp_path: Path):
    """The windows cut from the token ids, computed and then read back from the cache, equal the book's
    GPTDatasetV1 (a Python list of tensors, one per window) on the first 40,000 characters; each window is a
    view of the one tensor of ids."""
    book = pytest.importorskip("llms_from_scratch.ch02")
    prefix = shakespeare.decode()[:40_000]
    path = tmp_path / "prefix.txt"
    path.write_text(prefix, encoding="utf-8")
    split = int(0.9 * len(prefix))
    theirs = [book.GPTDatasetV1(part, gpt2_tokenizer(), max_length=32, stride=16)
              for part in (prefix[:split], prefix[split:])]  # fmt: skip
    for computed_or_cached in range(2):
        data = TextDataModule(
            data_settings(f"data.path={path}", "data.max_length=32", "data.stride=16", "data.batch_size=4")
        )
        data.setup()
        for ours, book_windows in zip((data.train_set, data.val_set), theirs, strict=True):
            assert len(ours) == len(book_windows) > 0, computed_or_cached
            for i in range(len(ours)):
                assert all(torch.equal(a, b) for a, b in zip(ours[i], book_windows[i], strict=True)), i
            storage = ours.ids.untyped_storage().data_ptr()
            assert all(ours[i][0].untyped_storage().data_ptr() == storage for i in range(len(ours)))


def test_the_corpus_is_66_times_the_verdict(shakespeare: bytes, tmp_path: Path):
    (tmp_path / "shakespeare.txt").write_bytes(shakespeare)
    train, val = TextDataModule(data_settings(f"data.path={tmp_path / 'shakespeare.txt'}")).split_token_ids()
    verdict_train, verdict_val = TextDataModule(data_settings()).split_token_ids()
    ratio = (len(train) + len(val)) / (len(verdict_train) + len(verdict_val))
    assert round(ratio) == 66, ratio
