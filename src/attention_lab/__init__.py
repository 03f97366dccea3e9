"""attention-lab: train a small GPT with each attention variant of chapter 3 of
*Build a Large Language Model (From Scratch)* and compare them in TensorBoard."""

__version__ = "0.1.0"
