"""Generation (the book's sections 4.7 and 5.3): greedy by default, temperature and top-k, with a KV cache;
what `python -m attention_lab.generate` and the samples logged while training run."""

from __future__ import annotations

import torch

from attention_lab.attention import KVCache
from attention_lab.errors import ConfigError, refusal
from attention_lab.model.gpt import GPTModel


def next_token_logits(
    model: GPTModel, idx: torch.Tensor, context_length: int, cache: KVCache | None
) -> torch.Tensor:
    """Logits (batch, vocab) of the token after idx (batch, T), the output head applied to the last
    position only. With a cache, only the tokens the cache has not seen go through the model."""
    if cache is None:
        new_tokens = idx[:, -context_length:]
    elif 0 < cache.length < context_length:
        new_tokens = idx[:, -1:]  # the one token appended since the previous call
    else:
        # First call, or the window is full: uncached generation now crops to the last context_length
        # tokens, which moves every token to a new position (learned: another embedding), so every cached key
        # and value is stale. Start over from the cropped window: one full pass, as the uncached path makes.
        cache.clear()
        new_tokens = idx[:, -context_length:]
    return model.out_head(model.features(new_tokens, cache)[:, -1])


@torch.no_grad()
def generate(
    model: GPTModel,
    idx: torch.Tensor,
    max_new_tokens: int,
    context_length: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    eos_id: int | None = None,
    use_cache: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Extend idx (batch, T) by up to `max_new_tokens` tokens; returns (batch, T + new).

    The model sees at most the last `context_length` tokens. temperature 0 picks the most likely token
    (greedy); otherwise logits are divided by the temperature and sampled, after keeping only the
    `top_k` largest when top_k is set, drawing from `generator` (None: torch's global RNG). Stops early when
    every sequence produced `eos_id`.

    `use_cache` keeps each layer's keys and values (a KVCache, new for this call) so that each step feeds
    one token instead of the whole window; same tokens, faster. A model with a layer trained without the
    causal mask has no exact cache (see `GPTModel.kv_cache_exact`) and is always run uncached.
    """
    if idx.shape[1] == 0:
        raise ConfigError("the prompt is empty; give at least one token of text to continue")
    if temperature < 0:
        raise ConfigError(f"temperature={temperature} must be >= 0 (0 means greedy)")
    if top_k is not None and top_k < 1:
        raise ConfigError(f"top_k={top_k} must be >= 1, or null for no top-k filtering")
    cache = KVCache(capacity=context_length) if use_cache and model.kv_cache_exact else None
    for _ in range(max_new_tokens):
        logits = next_token_logits(model, idx, context_length, cache)  # (batch, vocab)
        if top_k is not None:
            kth_largest = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
            logits = logits.masked_fill(logits < kth_largest, -torch.inf)
        if temperature > 0:
            probabilities = torch.softmax(logits / temperature, dim=-1)
            next_id = torch.multinomial(probabilities, num_samples=1, generator=generator)
        else:
            next_id = logits.argmax(dim=-1, keepdim=True)
        idx = torch.cat([idx, next_id], dim=1)
        if eos_id is not None and bool((next_id == eos_id).all()):
            break
    return idx


def prompt_ids(model: GPTModel, prompt: str) -> torch.Tensor:
    """(1, T) ids of `prompt` in the model's tokenizer; ConfigError naming what it has no tokens for."""
    tokenizer = model.tokenizer
    if missing := tokenizer.unknown(prompt):
        reason = (f"the model has no token for {missing!r}: its {tokenizer.vocab_size} tokens are those of "
                  f"the data it trained on ({tokenizer.name})")
        raise ConfigError(refusal("prompt", prompt, reason))
    return tokenizer.encode(prompt)[None]


def continue_text(
    model: GPTModel,
    prompt: str,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    seed: int = 123,
) -> str:
    """The prompt followed by `max_new_tokens` generated tokens, decoded by the model's tokenizer; sampled
    from a generator of its own seeded with `seed`, so the caller's random state (a run's dropout masks) is
    left as it was."""
    device = next(model.parameters()).device
    ids = generate(
        model,
        prompt_ids(model, prompt).to(device),
        max_new_tokens=max_new_tokens,
        context_length=model.context_length,
        temperature=temperature,
        top_k=top_k,
        generator=torch.Generator(device).manual_seed(seed),
    )
    return model.tokenizer.decode(ids)
