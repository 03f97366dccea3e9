"""The offline GPT-2 BPE: tiktoken's ids for the book's examples, from a verified rank cache."""

import hashlib

from attention_lab.data import tokenizer as bpe
from attention_lab.data.tokenizer import END_OF_TEXT_ID, VOCAB_SIZE, gpt2_tokenizer

BOOK_TEXT = "Hello, do you like tea? <|endoftext|> In the sunlit terraces of someunknownPlace."
BOOK_IDS = [15496, 11, 466, 345, 588, 8887, 30, 220, 50256, 554, 262, 4252, 18250, 8812, 2114, 286, 617,
            34680, 27271, 13]  # fmt: skip


def test_book_example_encodes_to_the_books_ids_and_back():
    tokenizer = gpt2_tokenizer()
    ids = tokenizer.encode(BOOK_TEXT, allowed_special={"<|endoftext|>"})
    assert ids == BOOK_IDS
    assert tokenizer.decode(ids) == BOOK_TEXT


def test_gpt2_vocabulary_and_end_of_text():
    tokenizer = gpt2_tokenizer()
    assert tokenizer.n_vocab == VOCAB_SIZE == 50257
    assert tokenizer.eot_token == END_OF_TEXT_ID == 50256
    assert gpt2_tokenizer() is tokenizer  # built once per process


def test_the_verdict_is_5145_tokens(verdict_text):
    assert len(gpt2_tokenizer().encode(verdict_text)) == 5145


def test_hello_world_in_tiktoken_gpt2_ids():
    encoding = gpt2_tokenizer()
    assert encoding.encode("Hello, world") == [15496, 11, 995]
    assert encoding.encode("<|endoftext|>", allowed_special="all") == [50256]


def test_rank_cache_is_written_verified_and_rebuilt_when_altered(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = bpe.ranks_cache_path()
    assert not path.exists()
    built = bpe.mergeable_ranks()  # from the BPE files, then cached
    assert hashlib.sha256(path.read_bytes()).hexdigest() == bpe.RANKS_SHA256
    assert bpe.mergeable_ranks() == built  # from the cache
    path.write_bytes(path.read_bytes().replace(b" 256\n", b" 257\n", 1))  # a tampered rank
    assert bpe.mergeable_ranks() == built  # ignored and rebuilt
    assert hashlib.sha256(path.read_bytes()).hexdigest() == bpe.RANKS_SHA256
