from attention_lab.tokenizer import END_OF_TEXT_ID, VOCAB_SIZE, gpt2_tokenizer

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
