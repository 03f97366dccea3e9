"""The book's efficient multi-head attention notebook (ch03/02_bonus_efficient-multihead-attention): `mha`'s
maths computed other ways. Each takes `causal` and `dropout` like every variant, and `from_mha` maps an
`mha`'s parameters onto its own, so that tests/test_efficient.py finds the same outputs and gradients.

    sdpa          torch.nn.functional.scaled_dot_product_attention with is_causal: fused kernels
    combined_qkv  one nn.Linear(d_in, 3·d_out) for queries, keys and values
    einsum        projections, scores and weighted sum as torch.einsum
    sdpa_mask     scaled_dot_product_attention given an explicit boolean mask (True = attend), not is_causal
    torch_mha     torch.nn.MultiheadAttention (its own setting need_weights), then an output projection

The notebook's FlexAttention is `flex`, in flex.py.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from attention_lab.attention.base import AttentionBase
from attention_lab.attention.chapter3 import MultiHeadAttention
from attention_lab.attention.kv_cache import KVCache
from attention_lab.attention.registry import Setting, register

Parameters = dict[str, torch.Tensor]


def alibi_float_mask(
    module: AttentionBase, num_queries: int, num_keys: int, like: torch.Tensor
) -> torch.Tensor | None:
    """What a fused kernel takes as its float mask under ALiBi: the bias, −inf where a key is hidden (the
    causal mask folded in), (heads, T_q, T_k) or (T_q, T_k) for one head; None without a bias."""
    bias = module.positions.bias(num_queries, num_keys, module.causal, like)
    hidden = module.hidden_mask(num_queries, num_keys)
    return bias if bias is None or hidden is None else bias.masked_fill(hidden, -torch.inf)


@register(
    "sdpa",
    section="bonus: scaled_dot_product_attention",
    summary="`mha`'s maths on `torch.nn.functional.scaled_dot_product_attention`",
    multi_head=True,
)
class SDPAttention(MultiHeadAttention):
    """Beyond the chapter: `MultiHeadAttention`'s maths on `F.scaled_dot_product_attention`, which fuses
    scale, mask, softmax, dropout and the weighted sum (flash/memory-efficient kernels where available)
    and never materialises the (T, T) weights. Same parameters, so weights load interchangeably.
    """

    use_is_causal = True  # the causal mask as SDPA's is_causal flag where it can be; else an explicit mask

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        # The fused kernels return no weights, and on CPU none has dropout (torch falls back to a slower
        # unfused path): in those cases the explicit path of `MultiHeadAttention` is the better one.
        cpu_dropout = self.training and self.dropout.p > 0 and x.device.type == "cpu"
        if self.keep_weights or cpu_dropout:
            return super().forward(x, cache)
        queries, keys, values = self.kernel_inputs(x, cache)
        num_queries, num_keys = queries.shape[-2], keys.shape[-2]
        mask = alibi_float_mask(self, num_queries, num_keys, queries)  # ALiBi: the bias is the mask
        # is_causal aligns the mask top-left, right only when queries and keys are the same positions; with
        # cached keys the queries are the newest positions, so the mask is passed explicitly (True = see).
        if mask is None and not (num_queries == num_keys and self.use_is_causal):
            hidden = self.hidden_mask(num_queries, num_keys)
            mask = None if hidden is None else ~hidden
        context = F.scaled_dot_product_attention(
            queries,
            keys,
            values,
            attn_mask=mask,
            dropout_p=self.dropout.p if self.training else 0.0,
            is_causal=self.causal and mask is None,
        )
        return self.out_proj(self.merge_heads(context))


def qkv_stacked(mha: Parameters, kind: str) -> torch.Tensor:
    """mha's query, key and value weights (or biases) one above the other: the rows of a combined qkv."""
    return torch.cat([mha[f"W_{role}.{kind}"] for role in ("query", "key", "value")])


@register(
    "combined_qkv",
    section="bonus: combined QKV weights",
    summary="`mha` with one `nn.Linear(d_in, 3·d_out)` for queries, keys and values",
    multi_head=True,
)
class CombinedQKVAttention(AttentionBase):
    """One projection makes queries, keys and values: (b, T, d_in) → (b, T, 3·d_out) → 3 × (b, heads, T,
    head_dim), then `attend` and an output projection, as `mha`."""

    def __init__(self, d_in: int, d_out: int, context_length: int, dropout: float = 0.0, num_heads: int = 1,
                 causal: bool = True, qkv_bias: bool = False) -> None:  # fmt: skip
        super().__init__(context_length, dropout, causal)
        self.num_heads, self.head_dim = num_heads, d_out // num_heads
        self.qkv = nn.Linear(d_in, 3 * d_out, bias=qkv_bias)
        self.proj = nn.Linear(d_out, d_out)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        self.check_length(x.shape[1])
        b, num_tokens, _ = x.shape
        qkv = self.qkv(x).view(b, num_tokens, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        queries, keys, values = qkv.unbind(0)  # (b, heads, T, head_dim) each
        if cache is not None:
            keys, values = cache.extend(self, keys, values)
        context = self.attend(queries, keys, values, scale=self.head_dim**-0.5)
        return self.proj(context.transpose(1, 2).reshape(b, num_tokens, -1))

    @staticmethod
    def from_mha(mha: Parameters) -> Parameters:
        mapped = {"qkv.weight": qkv_stacked(mha, "weight"), "proj.weight": mha["out_proj.weight"]}
        mapped["proj.bias"] = mha["out_proj.bias"]
        return mapped | ({"qkv.bias": qkv_stacked(mha, "bias")} if "W_query.bias" in mha else {})


@register(
    "einsum",
    section="bonus: Einsum",
    summary="`mha` written as `torch.einsum`: projections, scores and the weighted sum",
    multi_head=True,
)
class EinsumAttention(AttentionBase):
    """W_query, W_key, W_value as (d_in, d_out) parameters, applied with einsum "bnd,do->bno"; scores
    "bhnd,bhmd->bhnm" and the weighted sum "bhnm,bhmd->bhnd", inside `attend`."""

    def __init__(self, d_in: int, d_out: int, context_length: int, dropout: float = 0.0, num_heads: int = 1,
                 causal: bool = True, qkv_bias: bool = False) -> None:  # fmt: skip
        super().__init__(context_length, dropout, causal)
        self.num_heads, self.head_dim = num_heads, d_out // num_heads
        bound = 1 / math.sqrt(d_in)  # nn.Linear's initialisation, so that it trains as mha does
        for role in ("query", "key", "value"):
            setattr(self, f"W_{role}", nn.Parameter(torch.empty(d_in, d_out).uniform_(-bound, bound)))
            bias = nn.Parameter(torch.empty(d_out).uniform_(-bound, bound)) if qkv_bias else None
            setattr(self, f"bias_{role}", bias)
        self.out_proj = nn.Linear(d_out, d_out)

    def project(self, x: torch.Tensor, role: str) -> torch.Tensor:
        """(b, T, d_in) → (b, heads, T, head_dim)."""
        projected = torch.einsum("bnd,do->bno", x, getattr(self, f"W_{role}"))
        if (bias := getattr(self, f"bias_{role}")) is not None:
            projected = projected + bias
        b, num_tokens, _ = x.shape
        return projected.view(b, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)

    def scores_of(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        # einsum returns a view of its batched matmul; `attend` masks and scales the scores in place, and in
        # place on a view autograd copies the whole (b, heads, T, T) back in backward (CopySlices): one copy
        # of the scores here instead (docs/performance.md, the book's notebook)
        return torch.einsum("bhnd,bhmd->bhnm", queries, keys).clone()

    def weigh(self, weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bhnm,bhmd->bhnd", weights, values)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        self.check_length(x.shape[1])
        queries, keys, values = (self.project(x, role) for role in ("query", "key", "value"))
        if cache is not None:
            keys, values = cache.extend(self, keys, values)
        context = self.attend(queries, keys, values, scale=self.head_dim**-0.5)
        return self.out_proj(context.transpose(1, 2).reshape(*x.shape[:2], -1))

    @staticmethod
    def from_mha(mha: Parameters) -> Parameters:
        roles = ("query", "key", "value")
        mapped = {f"W_{role}": mha[f"W_{role}.weight"].T for role in roles}
        mapped |= {f"bias_{role}": mha[f"W_{role}.bias"] for role in roles if f"W_{role}.bias" in mha}
        return mapped | {name: mha[name] for name in ("out_proj.weight", "out_proj.bias")}


@register(
    "sdpa_mask",
    section="bonus: SDPA with an explicit mask",
    summary="`sdpa` given the causal mask as a boolean tensor (True = attend) instead of `is_causal`",
    multi_head=True,
)
class SDPAExplicitMaskAttention(SDPAttention):
    """`sdpa`, but the mask goes to scaled_dot_product_attention as a (T_q, T_k) boolean tensor, True where
    a query may see a key (the opposite of `hidden_mask` and of nn.MultiheadAttention's boolean mask)."""

    use_is_causal = False

    @staticmethod
    def from_mha(mha: Parameters) -> Parameters:
        return dict(mha)


@register(
    "torch_mha",
    section="bonus: torch.nn.MultiheadAttention",
    summary="`torch.nn.MultiheadAttention`, then an output projection; `need_weights` its own setting",
    multi_head=True,
    settings={"need_weights": Setting("return the weights, which takes the slower path", kind=bool)},
    cached_per_token=lambda sizes: sizes.emb_dim,  # the inputs: keys and values are projected from them
    encodings=("learned", "none", "alibi"),  # its queries and keys are made inside torch: no RoPE
)
class TorchMultiheadAttention(AttentionBase):
    """torch.nn.MultiheadAttention(d_out, heads, batch_first=True) on (b, T, d_in = d_out), its boolean
    mask True where a query must not see a key, then `proj`, as the book's notebook does. A KV cache
    holds the inputs, from which it projects keys and values again at every step."""

    def __init__(self, d_in: int, d_out: int, context_length: int, dropout: float = 0.0, num_heads: int = 1,
                 causal: bool = True, qkv_bias: bool = False, need_weights: bool = False) -> None:
        super().__init__(context_length, dropout, causal)  # the mask; the dropout is nn.MultiheadAttention's
        self.num_heads, self.need_weights = num_heads, need_weights
        self.attention = nn.MultiheadAttention(d_out, num_heads, dropout, bias=qkv_bias, batch_first=True)
        self.proj = nn.Linear(d_out, d_out)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        self.check_length(x.shape[1])
        (seen,) = (x,) if cache is None else cache.extend(self, x)  # (b, T_cached + T, d)
        num_queries, num_keys = x.shape[1], seen.shape[1]
        mask = alibi_float_mask(self, num_queries, num_keys, x)
        if mask is not None:  # nn.MultiheadAttention takes a float mask per (sequence, head)
            heads = mask.view(-1, num_queries, num_keys)  # (heads, T_q, T_k), one head included
            mask = heads.expand(x.shape[0], -1, -1, -1).reshape(-1, num_queries, num_keys)
        else:
            mask = self.hidden_mask(num_queries, num_keys)  # True = hidden, as this class reads it
        return_weights = self.need_weights or self.keep_weights  # (b, heads, T_q, T_k) when asked for
        out, weights = self.attention(x, seen, seen, attn_mask=mask, need_weights=return_weights,
                                      average_attn_weights=False)  # fmt: skip
        if self.keep_weights:
            self.last_weights = weights.detach()  # (b, heads, T_q, T_k)
        return self.proj(out)

    @staticmethod
    def from_mha(mha: Parameters) -> Parameters:
        """The heads' projections into in_proj; its own output projection the identity, then mha's."""
        identity = torch.eye(mha["out_proj.weight"].shape[0], dtype=mha["out_proj.weight"].dtype)
        mapped = {"attention.in_proj_weight": qkv_stacked(mha, "weight")}
        mapped["attention.out_proj.weight"] = identity
        if "W_query.bias" in mha:
            mapped |= {"attention.in_proj_bias": qkv_stacked(mha, "bias"),
                       "attention.out_proj.bias": torch.zeros_like(mha["out_proj.bias"])}  # fmt: skip
        return mapped | {"proj.weight": mha["out_proj.weight"], "proj.bias": mha["out_proj.bias"]}
