"""`python -m attention_lab.kv_memory [attention=<variant>] [model=<size>] [key=value ...]`
(conf/kv_memory.yaml).

The bytes a KV cache holds for a model, an attention variant, a context and a batch: what generation keeps
per layer and token, as `attention.KVCache` does. GB are 10⁹ bytes, as in the book's memory estimators
(ch04/04_gqa, 05_mla, 06_swa).
"""

from __future__ import annotations

from omegaconf import DictConfig

from attention_lab.checks import validate_kv_memory
from attention_lab.config import hydra_command
from attention_lab.errors import ConfigError

BYTES_PER_VALUE = {"float32": 4, "bfloat16": 2, "float16": 2}
SINGLE_HEAD = ("simple", "self_v1", "self_v2", "causal")
FULL_HEADS = ("mha_wrapper", "mha", "sdpa", "swa")  # keys and values of every head
GROUPED = ("gqa", "mqa")  # keys and values of num_kv_groups heads
LATENT = ("mla",)


def values_per_token(
    variant: str,
    *,
    emb_dim: int,
    n_heads: int,
    num_kv_groups: int | None = None,
    kv_latent_dim: int | None = None,
) -> int:
    """Numbers one layer caches per token (the attention's d_out is the model's emb_dim)."""
    if variant == "simple":
        return emb_dim  # keys and values are both the input x: cached once
    if variant in SINGLE_HEAD or variant in FULL_HEADS:
        return 2 * emb_dim  # keys + values, heads · head_dim = emb_dim each
    if variant in GROUPED:
        groups = 1 if variant == "mqa" else num_kv_groups
        if groups is None:
            raise ValueError("gqa needs num_kv_groups")
        return 2 * groups * (emb_dim // n_heads)
    if variant in LATENT:
        if kv_latent_dim is None:
            raise ValueError("mla needs kv_latent_dim")
        return kv_latent_dim
    raise ValueError(f"unknown attention variant {variant!r}")


def cached_tokens(variant: str, context_length: int, window: int | None = None) -> int:
    """Tokens each layer keeps: the whole context, or for swa the last `window` of it."""
    if variant == "swa":
        if window is None:
            raise ValueError("swa needs window")
        return min(window, context_length)
    return context_length


def kv_cache_bytes(
    variant: str,
    *,
    n_layers: int,
    emb_dim: int,
    n_heads: int,
    context_length: int,
    batch_size: int = 1,
    bytes_per_value: int = 4,
    num_kv_groups: int | None = None,
    window: int | None = None,
    kv_latent_dim: int | None = None,
) -> int:
    """Bytes of a full KV cache: layers · cached tokens · values per token · batch · bytes per value.

    mha family: 2·layers·heads·head_dim·context·batch·bytes; gqa: kv groups instead of heads; swa:
    min(window, context) tokens; mla: the latent, kv_latent_dim per token and layer.
    """
    per_token = values_per_token(
        variant, emb_dim=emb_dim, n_heads=n_heads, num_kv_groups=num_kv_groups, kv_latent_dim=kv_latent_dim
    )
    tokens = cached_tokens(variant, context_length, window)
    return n_layers * tokens * per_token * batch_size * bytes_per_value


def in_units(n: int) -> str:
    """Bytes in decimal units, as the book's estimators count: "17.18 GB (17,179,869,184 bytes)"; below a GB
    also in GB, which the estimators always print: "536.87 MB (536,870,912 bytes; 0.54 GB)"."""
    if n >= 1e9:
        return f"{n / 1e9:,.2f} GB ({n:,} bytes)"
    unit, size = ("MB", 1e6) if n >= 1e6 else ("kB", 1e3)
    return f"{n / size:,.2f} {unit} ({n:,} bytes; {n / 1e9:.2f} GB)"


def describe(cfg: DictConfig) -> str:
    """The report of `python -m attention_lab.kv_memory` for `cfg` (conf/kv_memory.yaml)."""
    validate_kv_memory(cfg)
    model, attention = cfg.model, cfg.attention
    variant = attention.name
    own = {key: attention.get(key) for key in ("num_kv_groups", "window", "kv_latent_dim")}
    settings = "".join(f", {key}={value}" for key, value in own.items() if value is not None)
    try:
        total = kv_cache_bytes(
            variant,
            n_layers=model.n_layers,
            emb_dim=model.emb_dim,
            n_heads=model.n_heads,
            context_length=cfg.context_length,
            batch_size=cfg.batch_size,
            bytes_per_value=BYTES_PER_VALUE[cfg.dtype],
            **own,
        )
    except ValueError as err:
        raise ConfigError(f"attention={variant}: {err}") from None
    tokens = cached_tokens(variant, cfg.context_length, own["window"])
    per_token = total // (tokens * cfg.batch_size)
    return (
        f"attention={variant}{settings}; {model.n_layers} layers, emb_dim {model.emb_dim}, "
        f"{model.n_heads} heads\n"
        f"context {cfg.context_length:,} tokens ({tokens:,} cached per sequence), batch {cfg.batch_size}, "
        f"{cfg.dtype} ({BYTES_PER_VALUE[cfg.dtype]} bytes per value)\n"
        f"KV cache: {in_units(total)}, {per_token:,} bytes per cached token"
    )


@hydra_command("kv_memory")
def main(cfg: DictConfig) -> None:
    print(describe(cfg))


if __name__ == "__main__":
    main()
