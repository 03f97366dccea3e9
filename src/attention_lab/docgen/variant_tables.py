"""The variant tables of README.md (name, section, what it is) and docs/variants.md (with each variant's own
settings from its conf file and its KV cache), written from the registry's records."""
# ruff: noqa: E501  (markdown table rows are one line each)

from __future__ import annotations

from attention_lab.attention import VARIANTS
from attention_lab.cli import compose
from attention_lab.model.kv_bytes import cache_numbers, kv_cache_bytes, short_bytes


def variants_table() -> str:
    """README's table: every registered variant in the chapter's order."""
    rows = ["| name | section | what it is |", "|---|---|---|"]
    rows += [f"| `{v.name}` | {v.section} | {v.summary} |" for v in VARIANTS.values()]
    return "\n".join(rows) + "\n"


def kv_table(model: str = "gpt2_124m") -> str:
    """docs/variants.md's table: each variant's own settings (as its conf file sets them) and its KV cache."""
    sizes = compose(f"model={model}").model
    rows = [f"| variant | section | what it is | own settings (conf/attention) | multi-head | numbers cached per token and layer | KV cache of `model={model}` (context {sizes.context_length}, fp32) |", "|---|---|---|---|---|---:|---:|"]
    for name, record in VARIANTS.items():
        own = {key: compose(f"attention={name}").attention[key] for key in record.settings}
        dims = dict(emb_dim=sizes.emb_dim, n_heads=sizes.n_heads, context_length=sizes.context_length, **own)
        per_token, kept, state = cache_numbers(name, **dims)
        total = kv_cache_bytes(name, n_layers=sizes.n_layers, **dims)
        listed = ", ".join(f"`{k}: {v}`" for k, v in own.items()) or "—"
        tokens = f" ({kept} tokens kept)" if per_token and kept < sizes.context_length else ""
        cached = f"{per_token:,}" + (f" (and a state of {state:,})" if state else "")
        rows.append(f"| `{name}` | {record.section} | {record.summary} | {listed} | {'yes' if record.multi_head else 'no'} | {cached} | {short_bytes(total)}{tokens} |")
    return "\n".join(rows) + "\n"
