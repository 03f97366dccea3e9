"""The report's comparison of attention variants: loss, training speed, generation speed and KV-cache size
in one table, for a sweep whose runs differ by `attention=` (`python train.py sweep=variants`).

Per cell (one variant's seeds):
- val loss: last `val/loss`, mean ±std over seeds;
- train tokens/s: tokens trained on over the seconds spent in training steps (`train/seconds`), mean ±std
  over seeds;
- generation tokens/s, uncached and with the KV cache: greedy from the book's prompt to the end of the
  context (so the cache never has to start over), batch 1, one torch thread, on the weights of the cell's
  first run (`checkpoints/last.ckpt`); the two take turns over `rounds` rounds, each round repeating
  generation for at least half a second, and each figure is the median;
- KV bytes per token: what the cache holds per generated token over all layers (fp32), and the cache of a
  full context window (for swa only the window is held).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from attention_lab.model import GPTModel
from attention_lab.model.generation import generate, prompt_ids
from attention_lab.model.kv_bytes import model_kv_bytes, short_bytes
from attention_lab.report.stats import Cell
from attention_lab.report.tables import mean_std_text
from attention_lab.run_record import checkpoint_path
from attention_lab.training.checkpoints import model_from_checkpoint

TIMED_SECONDS = 0.5  # the least time each timed round of generation repeats for


@dataclass(frozen=True)
class GenerationSpeed:
    new_tokens: int
    uncached: float  # tokens/s
    cached: float  # tokens/s; NaN where the model has no exact cache (a layer without the causal mask)


def checkpoint_of(cell: Cell) -> Path | None:
    """`checkpoints/last.ckpt` of the cell's first run that has one."""
    found = (checkpoint_path(r.version_dir) for r in cell.runs if r.version_dir is not None)
    return next((path for path in found if path.is_file()), None)


def tokens_per_second(generate_once: Callable[[], object], new_tokens: int, min_seconds: float) -> float:
    """Tokens/s of `generate_once` (which makes `new_tokens`), repeated until `min_seconds` have passed: a
    small model generates its context in milliseconds, too short to time once."""
    calls, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < min_seconds:
        generate_once()
        calls += 1
    return calls * new_tokens / elapsed


def generation_speed(model: GPTModel, rounds: int = 3) -> GenerationSpeed:
    """Tokens/s of greedy generation from its data's prompt to the end of the context, uncached and cached
    taking turns for `rounds` rounds after one untimed warm-up each; the median of the rounds."""
    prompt = prompt_ids(model, model.prompt)[:, : model.context_length - 1]
    new_tokens = model.context_length - prompt.shape[1]
    runs = {
        use_cache: partial(generate, model, prompt, new_tokens, model.context_length, use_cache=use_cache)
        for use_cache in (False, True)
    }
    speeds: dict[bool, list[float]] = {False: [], True: []}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: batch-1 generation gains little from more, and times steadier
    try:
        for generate_once in runs.values():
            generate_once()
        for _ in range(rounds):
            for use_cache, generate_once in runs.items():
                speeds[use_cache].append(tokens_per_second(generate_once, new_tokens, TIMED_SECONDS))
    finally:
        torch.set_num_threads(threads)
    cached = statistics.median(speeds[True]) if model.kv_cache_exact else math.nan
    return GenerationSpeed(new_tokens, statistics.median(speeds[False]), cached)


def number(value: float, digits: int = 0) -> str:
    return "—" if math.isnan(value) else f"{value:,.{digits}f}"


def variant_speed_table(cells: list[Cell], rounds: int = 3) -> tuple[str, list[str], list[list[str]]]:
    """Title, headers and one row per cell; the generation and KV columns need the run's checkpoint."""
    headers = ["variant", "n", "val", "best val", "train tokens/s", "generate tokens/s uncached",
               "cached", "cached ×", "KV bytes/token", "KV cache, full context"]  # fmt: skip
    rows, new_tokens = [], set()
    for cell in cells:
        train_speed = [r.train_tokens_per_sec for r in cell.runs if not math.isnan(r.train_tokens_per_sec)]
        row = [cell.axes.variant or "—", str(len(cell.runs)), mean_std_text(cell.values("final_val_loss")),
               mean_std_text(cell.values("best_val_loss")),
               mean_std_text(train_speed, digits=0)]  # fmt: skip
        checkpoint = checkpoint_of(cell)
        if checkpoint is None:
            rows.append(row + ["—"] * 5)
            continue
        model = model_from_checkpoint(checkpoint)
        speed = generation_speed(model, rounds)
        new_tokens.add(speed.new_tokens)
        per_token, full = model_kv_bytes(model)
        row += [number(speed.uncached, 1), number(speed.cached, 1), number(speed.cached / speed.uncached, 2),
                f"{per_token:,}", short_bytes(full)]  # fmt: skip
        rows.append(row)
    generated = "/".join(map(str, sorted(new_tokens))) or "no checkpoints: no"
    title = (
        f"variants: val loss and train tokens/s mean ±std over seeds; generation greedy, {generated} new "
        f"tokens (to the end of the context), batch 1, 1 torch thread, median of {rounds} rounds; KV cache "
        "fp32, batch 1"
    )
    return title, headers, rows


def compares_variants(cells: list[Cell]) -> bool:
    """Whether the sweep compares attention variants (more than one among its cells)."""
    return len({c.axes.variant for c in cells}) > 1
