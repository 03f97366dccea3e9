"""The token cache: a text's ids computed once, read back while the text stays the same, rebuilt when not."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from attention_lab.data import token_cache
from attention_lab.data.tokenizer import END_OF_TEXT, gpt2_tokenizer


@pytest.fixture
def counted_encodes(tmp_path: Path, monkeypatch) -> list[str]:
    """The texts tokenized, with the cache in a fresh folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    texts: list[str] = []

    class Counting:
        def encode(self, text: str, **kwargs) -> list[int]:
            texts.append(text)
            return gpt2_tokenizer().encode(text, **kwargs)

    monkeypatch.setattr(token_cache, "gpt2_tokenizer", Counting)
    return texts


def test_the_cache_is_reused_for_the_same_text_and_rebuilt_for_another(counted_encodes: list[str]):
    text = "To be, or not to be: that is the question." + END_OF_TEXT + "Whether 'tis nobler"
    expected = gpt2_tokenizer().encode(text, allowed_special={END_OF_TEXT})
    first = token_cache.token_ids(text)
    assert first.dtype == torch.int64 and first.tolist() == expected
    assert token_cache.cache_path(text).stat().st_size == 2 * len(expected)
    assert token_cache.token_ids(text).tolist() == expected
    assert counted_encodes == [text]  # the second call read the file
    changed = text.replace("question", "problem")
    assert token_cache.token_ids(changed).tolist() == gpt2_tokenizer().encode(
        changed, allowed_special={END_OF_TEXT}
    )
    assert counted_encodes == [text, changed]
    assert token_cache.cache_path(changed) != token_cache.cache_path(text)


def test_a_cut_short_cache_file_is_rebuilt(counted_encodes: list[str]):
    text = "Now is the winter of our discontent"
    expected = token_cache.token_ids(text).tolist()
    path = token_cache.cache_path(text)
    path.write_bytes(path.read_bytes()[:-1])  # an odd number of bytes: half an id
    assert token_cache.token_ids(text).tolist() == expected
    assert path.stat().st_size == 2 * len(expected)
    assert len(counted_encodes) == 2


def test_an_unwritable_cache_only_costs_the_tokenizing(counted_encodes: list[str], tmp_path: Path):
    (tmp_path / "cache").write_text("a file where the cache folder would be")
    assert token_cache.token_ids("Friends, Romans, countrymen").tolist() == gpt2_tokenizer().encode(
        "Friends, Romans, countrymen"
    )


def test_an_empty_split_part_is_no_ids_and_no_file(counted_encodes: list[str], tmp_path: Path):
    ids = token_cache.token_ids("")
    assert ids.dtype == torch.int64 and ids.numel() == 0
    assert not (tmp_path / "cache" / "attention-lab" / "tokens").exists()
