"""Text generation (the book's sections 4.7 and 5.3): greedy by default, temperature and top-k sampling.

Also the command line `python -m attention_lab.generate ckpt=<path|last> prompt="..."` (see USAGE).
"""

from __future__ import annotations

import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from attention_lab.errors import ConfigError
from attention_lab.tokenizer import gpt2_tokenizer


def text_to_ids(text: str) -> torch.Tensor:
    """(1, T) token ids of `text` (`<|endoftext|>` allowed)."""
    ids = gpt2_tokenizer().encode(text, allowed_special={"<|endoftext|>"})
    return torch.tensor(ids, dtype=torch.long).unsqueeze(0)


def ids_to_text(ids: torch.Tensor) -> str:
    return gpt2_tokenizer().decode(ids.flatten().tolist())


@torch.no_grad()
def generate(
    model: torch.nn.Module,
    idx: torch.Tensor,
    max_new_tokens: int,
    context_length: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    eos_id: int | None = None,
) -> torch.Tensor:
    """Extend idx (batch, T) by up to `max_new_tokens` tokens; returns (batch, T + new).

    The model sees at most the last `context_length` tokens. temperature 0 picks the most likely token
    (greedy); otherwise logits are divided by the temperature and sampled, after keeping only the
    `top_k` largest when top_k is set. Stops early when every sequence produced `eos_id`.
    """
    if idx.shape[1] == 0:
        raise ConfigError("the prompt is empty; give at least one token of text to continue")
    if temperature < 0:
        raise ConfigError(f"temperature={temperature} must be >= 0 (0 means greedy)")
    if top_k is not None and top_k < 1:
        raise ConfigError(f"top_k={top_k} must be >= 1, or null for no top-k filtering")
    for _ in range(max_new_tokens):
        logits = model(idx[:, -context_length:])[:, -1, :]  # (batch, vocab): only the last position
        if top_k is not None:
            kth_largest = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
            logits = logits.masked_fill(logits < kth_largest, -torch.inf)
        if temperature > 0:
            next_id = torch.multinomial(torch.softmax(logits / temperature, dim=-1), num_samples=1)
        else:
            next_id = logits.argmax(dim=-1, keepdim=True)
        idx = torch.cat([idx, next_id], dim=1)
        if eos_id is not None and bool((next_id == eos_id).all()):
            break
    return idx


# --- command line: `python -m attention_lab.generate ckpt=<path|last> prompt="..." [key=value ...]` --------
USAGE = """\
usage: python -m attention_lab.generate ckpt=<path|last> [prompt="Every effort moves you"] [key=value ...]

Continue a prompt with a model trained by train.py; the network is rebuilt from the settings saved in the
checkpoint and runs on the CPU.

  ckpt=PATH|last      a .ckpt file, or `last`: the newest last.ckpt under log_dir (required)
  prompt=TEXT         text to continue (default "Every effort moves you"); longer than the model's context,
                      only its last context_length tokens are seen
  max_new_tokens=N    tokens to add (default 50)
  temperature=T       0 = greedy: the most likely token each step (default); > 0: sample softmax(logits/T)
  top_k=K|null        sample only among the K most likely tokens (default null: all of them)
  seed=S              random seed for sampling (default 123)
  log_dir=DIR         where ckpt=last looks (default <project>/logs)
"""


@dataclass
class GenerateArgs:
    ckpt: str
    prompt: str = "Every effort moves you"  # the book's chapter 5 prompt
    max_new_tokens: int = 50
    temperature: float = 0.0
    top_k: int | None = None
    seed: int = 123
    log_dir: str = ""  # "" = <project root>/logs


def _optional_int(value: str) -> int | None:
    return None if value.lower() in ("null", "none", "") else int(value)


# Values stay raw strings for text keys, so a prompt may hold any character, `=` and `:` included.
_PARSERS: dict[str, Callable[[str], Any]] = {
    "ckpt": str,
    "prompt": str,
    "max_new_tokens": int,
    "temperature": float,
    "top_k": _optional_int,
    "seed": int,
    "log_dir": str,
}


def parse_args(argv: list[str]) -> GenerateArgs:
    """key=value arguments → GenerateArgs; a ConfigError names any unknown key or malformed value."""
    values: dict[str, Any] = {}
    for arg in argv:
        key, sep, raw = arg.partition("=")
        if not sep or key not in _PARSERS:
            raise ConfigError(
                f"unknown argument {arg!r}; expected key=value with key one of {', '.join(_PARSERS)}"
            )
        try:
            values[key] = _PARSERS[key](raw)
        except ValueError:
            kind = {int: "an integer", float: "a number"}.get(_PARSERS[key], "an integer or null")
            raise ConfigError(f"{key}={raw!r} is not {kind}") from None
    if "ckpt" not in values:
        raise ConfigError("ckpt= is required: the path of a checkpoint written by train.py, or ckpt=last")
    args = GenerateArgs(**values)
    if args.max_new_tokens < 0:
        raise ConfigError(f"max_new_tokens={args.max_new_tokens} must be >= 0")
    return args


def resolve_checkpoint(ckpt: str, log_dir: str | Path) -> Path:
    """`ckpt` as an existing file; `last` means the most recently written last.ckpt under `log_dir`."""
    if ckpt == "last":
        from attention_lab.resume import find_last_checkpoint

        path = find_last_checkpoint(Path(log_dir), "**/last*.ckpt")
        if path is None:
            raise ConfigError(
                f"ckpt=last found no last.ckpt under {log_dir}; train with save_checkpoints=true"
            )
        return path
    path = Path(ckpt)
    if not path.is_file():
        raise ConfigError(f"ckpt={ckpt} is not a file; give a .ckpt written by train.py, or ckpt=last")
    return path


def load_model(path: str | Path) -> torch.nn.Module:
    """The GPTModel of a train.py checkpoint, rebuilt from its saved hparams, on the CPU in eval mode."""
    from attention_lab.lit_module import LitGPT  # lit_module imports this module

    try:
        module = LitGPT.load_from_checkpoint(path, map_location="cpu")
    except (KeyError, TypeError, RuntimeError, pickle.UnpicklingError, EOFError):
        raise ConfigError(
            f"ckpt={path} is not a checkpoint written by train.py (those hold the weights and the model and "
            "attention settings); use one from logs/<experiment>/<run>/version_<n>/checkpoints/"
        ) from None
    return module.model.eval()


def continue_text(
    model: torch.nn.Module,
    prompt: str,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    seed: int = 123,
) -> str:
    """The prompt followed by `max_new_tokens` generated tokens, decoded."""
    torch.manual_seed(seed)
    ids = generate(
        model,
        text_to_ids(prompt),
        max_new_tokens=max_new_tokens,
        context_length=model.context_length,
        temperature=temperature,
        top_k=top_k,
    )
    return ids_to_text(ids)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(arg in ("-h", "--help", "help") for arg in argv):
        print(USAGE, end="")
        return 0
    try:
        args = parse_args(argv)
        if not args.prompt:  # before the (slow) checkpoint load
            raise ConfigError("prompt= is empty; give at least one token of text to continue")
        from attention_lab.config import project_root

        path = resolve_checkpoint(args.ckpt, args.log_dir or Path(project_root()) / "logs")
        model = load_model(path)
        n_prompt = text_to_ids(args.prompt).shape[1]
        if n_prompt > model.context_length:
            seen = model.context_length
            print(f"note: the prompt has {n_prompt} tokens; the model sees the last {seen}", file=sys.stderr)
        text = continue_text(model, args.prompt, args.max_new_tokens, args.temperature, args.top_k, args.seed)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
