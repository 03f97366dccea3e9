"""The GPT (chapter 4) around a swappable attention variant, its config, loss, generation and KV-cache size.

config.py     ModelConfig, AttentionConfig: the model's facts, checked by pydantic
gpt.py        GPTModel: embeddings, transformer blocks, output head
loss.py       the output head and cross-entropy fused into one pass over the logits
generation.py greedy / temperature / top-k generation with a KV cache
kv_bytes.py   the bytes a KV cache holds, from each variant's registry record
"""

from attention_lab.model.config import AttentionConfig, ModelConfig
from attention_lab.model.gpt import GPTModel

__all__ = ["AttentionConfig", "GPTModel", "ModelConfig"]
