"""`python -m attention_lab.kv_memory [attention=<variant>] [model=<size>] [key=value ...]`
(conf/kv_memory.yaml): the bytes a KV cache holds for a model, an attention variant, a context and a batch.
"""

from __future__ import annotations

from omegaconf import DictConfig

from attention_lab.cli import hydra_command
from attention_lab.model.kv_bytes import BYTES_PER_VALUE, cache_numbers, in_units, kv_cache_bytes
from attention_lab.settings import KvMemorySettings, checked


def describe(cfg: DictConfig) -> str:
    """The report of `python -m attention_lab.kv_memory` for `cfg` (conf/kv_memory.yaml)."""
    settings = checked(KvMemorySettings, cfg)
    model, attention = settings.model, settings.attention
    own = attention.own_settings
    bytes_per_value = BYTES_PER_VALUE[settings.dtype]
    sizes = dict(emb_dim=model.emb_dim, n_heads=model.n_heads, context_length=settings.context_length, **own)
    total = kv_cache_bytes(attention.name, n_layers=model.n_layers, batch_size=settings.batch_size,
                           bytes_per_value=bytes_per_value, **sizes)  # fmt: skip
    per_token, tokens, state = cache_numbers(attention.name, **sizes)
    per_token_bytes = model.n_layers * per_token * bytes_per_value
    kept = f"{per_token_bytes:,} bytes per cached token"
    if state:  # a recurrent layer: its state is the whole cache
        kept += f" and a state of {model.n_layers * state * bytes_per_value:,} bytes per sequence"
    listed = "".join(f", {key}={value}" for key, value in own.items())
    return (
        f"attention={attention.name}{listed}; {model.n_layers} layers, emb_dim {model.emb_dim}, "
        f"{model.n_heads} heads\n"
        f"context {settings.context_length:,} tokens ({tokens if per_token else 0:,} cached per sequence), "
        f"batch {settings.batch_size}, {settings.dtype} ({bytes_per_value} bytes per value)\n"
        f"KV cache: {in_units(total)}, {kept}"
    )


@hydra_command("kv_memory")
def main(cfg: DictConfig) -> None:
    print(describe(cfg))


if __name__ == "__main__":
    main()
