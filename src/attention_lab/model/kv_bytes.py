"""The bytes a KV cache holds: what generation keeps per layer and token, as `attention.KVCache` does, from
each variant's registry record (numbers cached per token, tokens kept). GB are 10⁹ bytes, as in the book's
memory estimators (ch04/04_gqa, 05_mla, 06_swa)."""

from __future__ import annotations

from typing import Any

from attention_lab.attention import Sizes, variant
from attention_lab.model.gpt import GPTModel

BYTES_PER_VALUE = {"float32": 4, "bfloat16": 2, "float16": 2}


def cache_numbers(
    name: str, *, emb_dim: int, n_heads: int, context_length: int, **own_settings: Any
) -> tuple[int, int, int]:
    """What each layer of variant `name` caches for a context of `context_length`: (numbers per token,
    tokens kept: all of them or e.g. swa's window, numbers kept whatever the tokens: gru's state)."""
    return variant(name).cache_numbers(Sizes(emb_dim, n_heads, context_length, own_settings))


def kv_cache_bytes(
    name: str,
    *,
    n_layers: int,
    emb_dim: int,
    n_heads: int,
    context_length: int,
    batch_size: int = 1,
    bytes_per_value: int = 4,
    **own_settings: Any,
) -> int:
    """Bytes of a full KV cache: layers · (kept tokens · numbers per token + a recurrent state's numbers) ·
    batch · bytes per value. The attention's width is the model's emb_dim."""
    sizes = Sizes(emb_dim, n_heads, context_length, own_settings)
    per_token, tokens, state = variant(name).cache_numbers(sizes)
    return n_layers * (tokens * per_token + state) * batch_size * bytes_per_value


def model_kv_bytes(model: GPTModel) -> tuple[int, int]:
    """(bytes per cached token over all layers, bytes of the cache of one full context) of `model`, fp32."""
    m, a = model.config, model.attention_config
    sizes = dict(emb_dim=m.emb_dim, n_heads=m.n_heads, context_length=m.context_length, **a.own_settings)
    per_token = m.n_layers * cache_numbers(a.name, **sizes)[0] * BYTES_PER_VALUE["float32"]
    return per_token, kv_cache_bytes(a.name, n_layers=m.n_layers, **sizes)


def in_units(n: int) -> str:
    """Bytes in decimal units, as the book's estimators count: "17.18 GB (17,179,869,184 bytes)"; below a GB
    also in GB, which the estimators always print: "536.87 MB (536,870,912 bytes; 0.54 GB)"."""
    if n >= 1e9:
        return f"{n / 1e9:,.2f} GB ({n:,} bytes)"
    unit, size = ("MB", 1e6) if n >= 1e6 else ("kB", 1e3)
    return f"{n / size:,.2f} {unit} ({n:,} bytes; {n / 1e9:.2f} GB)"


def short_bytes(n: int) -> str:
    """ "512 B", "2.0 kB", "37.7 MB": decimal units, as `in_units` and the book's estimators count."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"
