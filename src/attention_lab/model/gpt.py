"""The GPT of the book's chapter 4 with a swappable chapter 3 attention module.

    ids (b, T) → token + position embeddings (b, T, emb) → dropout   (pos_emb="learned"; else tokens only)
      → n_layers × [x + drop(attn(norm1(x))); x + drop(ff(norm2(x)))]   (pre-LayerNorm blocks)
      → final norm → linear head (b, T, vocab_size) logits

pos_emb="rope" and "alibi" act inside attention instead (attention_lab.attention.positions): every block's
attention gets the same encoding. The three dropouts are the book's exercise 4.3: on the embeddings
(model.drop_rate_emb), on the attention weights (attention.dropout) and on each sublayer's output before
the shortcut adds it (model.drop_rate_shortcut); the first and last follow model.drop_rate unless set.

LayerNorm and GELU are torch's built-ins: `nn.LayerNorm(eps=1e-5)` is the book's LayerNorm (scale, shift,
biased variance) and `nn.GELU(approximate="tanh")` is the book's tanh-approximated GELU, each one kernel.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from attention_lab.attention import AttentionBase, KVCache, build_attention, variant
from attention_lab.attention.positions import Positions, positions_for
from attention_lab.data.config import AnyData
from attention_lab.data.text import BOOK_PROMPT, BOOK_SENTENCE
from attention_lab.data.tokenizers import GPT2Tokenizer, Tokenizer
from attention_lab.model.config import AttentionConfig, ModelConfig
from attention_lab.tags import FOCUS_KINDS


class FeedForward(nn.Module):
    """4.3: emb → 4·emb → GELU → emb, applied to each token independently."""

    def __init__(self, emb_dim: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(emb_dim, 4 * emb_dim),
            nn.GELU(approximate="tanh"),
            nn.Linear(4 * emb_dim, emb_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def attention_heads(model: ModelConfig, attention: AttentionConfig) -> int:
    """The heads of the variant: model.n_heads for a multi-head one, else one."""
    return model.n_heads if variant(attention.name).multi_head else 1


class TransformerBlock(nn.Module):
    """4.5: pre-LayerNorm attention and feed-forward sublayers, each wrapped in dropout + a shortcut."""

    def __init__(self, model: ModelConfig, attention: AttentionConfig, positions: Positions) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(model.emb_dim, eps=1e-5)
        self.att = build_attention(
            attention.name,
            d_in=model.emb_dim,
            d_out=model.emb_dim,
            context_length=model.context_length,
            num_heads=attention_heads(model, attention),
            dropout=attention.dropout,
            causal=attention.causal,
            qkv_bias=attention.qkv_bias,
            **attention.own_settings,
        )
        self.att.use_positions(positions)
        self.norm2 = nn.LayerNorm(model.emb_dim, eps=1e-5)
        self.ff = FeedForward(model.emb_dim)
        self.drop_shortcut = nn.Dropout(model.drop_rate_shortcut)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        x = x + self.drop_shortcut(self.att(self.norm1(x), cache))
        return x + self.drop_shortcut(self.ff(self.norm2(x)))


class GPTModel(nn.Module):
    """4.6: token ids (batch, tokens) → next-token logits (batch, tokens, vocab_size).

    `data`: the settings of the data it is trained on (a run passes them), which say what its token ids mean
    (`tokenizer`) and the text it continues and shows by default; without them, GPT-2's BPE and the book's
    texts."""

    def __init__(self, model: ModelConfig, attention: AttentionConfig, data: AnyData | None = None) -> None:
        super().__init__()
        self.config, self.attention_config, self.data = model, attention, data
        if model.vocab_size is None:
            raise ValueError("model.vocab_size is null (the data's token ids): give a number, or build the "
                             "model from a run's checked settings, which fill it in")
        heads = attention_heads(model, attention)
        problem = next(variant(attention.name).problems(
            emb_dim=model.emb_dim, n_heads=model.n_heads, qkv_bias=attention.qkv_bias,
            settings=attention.own_settings, pos_emb=model.pos_emb), None)  # fmt: skip
        if problem is not None:  # the variant's own rules (its registry record), for these sizes
            raise ValueError(str(problem))
        self.tok_emb = nn.Embedding(model.vocab_size, model.emb_dim)
        # Only with pos_emb="learned" is there a pos_emb attribute (and a key in the state dict).
        if model.pos_emb == "learned":
            self.pos_emb = nn.Embedding(model.context_length, model.emb_dim)
        self.drop_emb = nn.Dropout(model.drop_rate_emb)
        positions = positions_for(model.pos_emb, heads, model.rope_base)  # one for every block
        self.trf_blocks = nn.Sequential(
            *(TransformerBlock(model, attention, positions) for _ in range(model.n_layers))
        )
        self.final_norm = nn.LayerNorm(model.emb_dim, eps=1e-5)
        # Not tied to tok_emb, as in the book: 163M parameters for the "124M" configuration.
        self.out_head = nn.Linear(model.emb_dim, model.vocab_size, bias=False)

    @property
    def context_length(self) -> int:
        return self.config.context_length

    @property
    def tokenizer(self) -> Tokenizer:
        """What its token ids mean: its data's tokenizer; GPT-2's BPE without data."""
        return GPT2Tokenizer() if self.data is None else self.data.make_tokenizer()

    @property
    def prompt(self) -> str:
        """What it continues unless told: its data's prompt; the book's without data."""
        return BOOK_PROMPT if self.data is None else self.data.sample_prompt

    @property
    def heatmap_text(self) -> str:
        """What its heatmaps show unless told: its data's heatmap text; the book's sentence without data."""
        return BOOK_SENTENCE if self.data is None else self.data.heatmap

    @property
    def kv_cache_exact(self) -> bool:
        """Whether generating with a KVCache gives the uncached tokens: only if every layer is causal.
        Without the mask an earlier position attends to later ones, so its keys change with every token."""
        return all(m.causal for m in self.attention_modules())

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        return self.out_head(self.features(idx, cache))  # (b, T, vocab)

    def features(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        """Everything but the output head: ids (b, T) → final-normed hidden states (b, T, emb). Training
        feeds these to `linear_cross_entropy` with `out_head.weight`, which never holds all the logits.

        With a `cache`, idx are the tokens after the cache.length already seen: their positions start
        there, and each layer attends over the cached keys and values too (generation)."""
        start = 0 if cache is None else cache.length
        num_tokens = idx.shape[1]
        if start + num_tokens > self.context_length:
            raise ValueError(
                f"got {start + num_tokens} tokens, more than the model's context_length={self.context_length}"
            )
        x = self.tok_emb(idx)  # (b, T, emb)
        if self.config.pos_emb == "learned":
            x = x + self.pos_emb(torch.arange(start, start + num_tokens, device=idx.device))
        x = self.drop_emb(x)
        for block in self.trf_blocks:
            x = block(x, cache)
        if cache is not None:
            cache.length += num_tokens
        return self.final_norm(x)

    def attention_modules(self) -> Iterator[AttentionBase]:
        """Every module that computes attention weights (a wrapper's heads count one by one)."""
        return (m for m in self.modules() if isinstance(m, AttentionBase))

    @contextmanager
    def causal_mask_forced(self) -> Iterator[None]:
        """Within the block every attention layer masks future tokens, whatever it was trained with:
        the model as it will be used for generation, where later tokens do not exist yet."""
        modules = list(self.attention_modules())
        saved = [m.causal for m in modules]
        try:
            for m in modules:
                m.causal = True
            yield
        finally:
            for m, causal in zip(modules, saved, strict=True):
                m.causal = causal

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> list[torch.Tensor]:
        """Attention weights of each layer for idx (b, T): a list of (b, heads, T, T) tensors (one head for
        the single-head variants), computed in eval mode (no dropout); none for a variant without weights."""
        if not variant(self.attention_config.name).has_weights:
            return []
        was_training = self.training
        self.eval()
        modules = list(self.attention_modules())
        for m in modules:
            m.keep_weights = True
        try:
            self(idx)
            maps = []
            for block in self.trf_blocks:
                weights = block.att.last_weights  # (b, heads, T, T), or (b, T, T) for single-head variants
                maps.append(weights if weights.dim() == 4 else weights.unsqueeze(1))
            return maps
        finally:
            for m in modules:
                m.keep_weights, m.last_weights = False, None
            self.train(was_training)


def attention_focus(weights: torch.Tensor) -> dict[str, float]:
    """The mean weight (over sequences, heads and queries) a query puts on each of tags.FOCUS_KINDS: the next
    token, itself, the previous token and the first token (queries after the first): weights (b, heads, T,
    T) of one layer."""
    return {kind.name: float(weights[..., 1:, 0].mean() if kind.offset is None
                             else weights.diagonal(kind.offset, -2, -1).mean())
            for kind in FOCUS_KINDS}  # fmt: skip
