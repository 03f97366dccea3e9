"""Token ids computed once per text and kept on disk, so that the runs of a sweep do not re-tokenize.

The ids of each text the data module tokenizes (each split of a file: its training and validation parts)
live in ~/.cache/attention-lab/tokens/ (or $XDG_CACHE_HOME), one file per text and tokenizer: the file name
holds the sha256 of the text's UTF-8 bytes and the sha256 of the tokenizer's merge ranks, so a changed text
or another tokenizer never reads a stale file. The file is the ids as little-endian uint16 (GPT-2's 50,257
ids fit; 0.6 MB for Tiny Shakespeare's training part), read back into one tensor, never a Python list of
ints. It is written in full and synced under a temporary name, then renamed: a reader sees a whole file or
none (a file of an odd length, half an id, is rebuilt). Where the cache cannot be written, the ids are
computed again next time.
"""

from __future__ import annotations

import hashlib
import sys
from array import array
from pathlib import Path

import torch

from attention_lab.data.tokenizer import (
    END_OF_TEXT,
    RANKS_SHA256,
    VOCAB_SIZE,
    cache_dir,
    gpt2_tokenizer,
    write_cache_file,
)

ID_TYPECODE = "H"  # unsigned 16-bit: every GPT-2 id is below 2**16
assert VOCAB_SIZE <= 2**16


FORMAT = "v1"  # the file's layout and what is encoded (<|endoftext|> allowed as its one token)


def cache_path(text: str) -> Path:
    """Where the ids of `text` under the GPT-2 tokenizer are kept."""
    text_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return cache_dir() / "tokens" / f"{text_hash}-gpt2-{RANKS_SHA256[:16]}-{FORMAT}.u16"


def _read(path: Path) -> array | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data or len(data) % 2:  # empty or cut short: rebuilt
        return None
    ids = array(ID_TYPECODE, data)
    if sys.byteorder == "big":
        ids.byteswap()  # the file is little-endian
    return ids


def _write(path: Path, ids: array) -> None:
    if sys.byteorder == "big":
        ids = array(ID_TYPECODE, ids)
        ids.byteswap()  # the file is little-endian
    write_cache_file(path, ids.tobytes())


def token_ids(text: str) -> torch.Tensor:
    """The (n,) int64 GPT-2 ids of `text` (`<|endoftext|>` allowed), from the cache when it holds them."""
    if not text:
        return torch.empty(0, dtype=torch.int64)  # an empty split part: nothing to cache
    path = cache_path(text)
    ids = _read(path)
    if ids is None:
        ids = array(ID_TYPECODE, gpt2_tokenizer().encode(text, allowed_special={END_OF_TEXT}))
        _write(path, ids)
    if not ids:
        return torch.empty(0, dtype=torch.int64)  # frombuffer refuses an empty buffer
    return torch.frombuffer(ids, dtype=torch.uint16).to(torch.int64)
