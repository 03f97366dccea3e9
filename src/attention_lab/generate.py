"""`python -m attention_lab.generate ckpt=<path|last> [prompt="..."] [key=value ...]` (conf/generate.yaml).

A thin command line over `attention_lab.sampling`: Hydra overrides in, the continued text out.
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig

from attention_lab.config import hydra_command
from attention_lab.errors import ConfigError


def resolve_checkpoint(ckpt: str | None, log_dir: str | Path) -> Path:
    """`ckpt` as an existing file; `last` means the most recently written last.ckpt under `log_dir`."""
    from attention_lab.resume import find_last_checkpoint

    if ckpt is None:
        raise ConfigError("ckpt= is required: the path of a checkpoint written by train.py, or ckpt=last")
    if ckpt == "last":
        path = find_last_checkpoint(Path(log_dir), "**/last*.ckpt")
        if path is None:
            raise ConfigError(
                f"ckpt=last found no last.ckpt under {log_dir}; train a run with checkpoints first"
            )
        return path
    path = Path(str(ckpt)).expanduser()
    if not path.is_file():
        raise ConfigError(f"ckpt={ckpt} is not a file; give a .ckpt written by train.py, or ckpt=last")
    return path


def generate_text(cfg: DictConfig) -> str:
    """The prompt and its continuation, as `cfg` (conf/generate.yaml) asks."""
    from attention_lab.sampling import continue_text, load_model, text_to_ids

    if cfg.max_new_tokens is None or int(cfg.max_new_tokens) < 0:
        raise ConfigError(
            f"max_new_tokens={cfg.max_new_tokens} is not allowed: it must be a whole number >= 0"
        )
    if not cfg.prompt:  # before the (slow) checkpoint load
        raise ConfigError("prompt= is empty; give at least one token of text to continue")
    model = load_model(resolve_checkpoint(cfg.ckpt, cfg.log_dir))
    n_prompt = text_to_ids(str(cfg.prompt)).shape[1]
    if n_prompt > model.context_length:
        print(f"note: the prompt has {n_prompt} tokens; the model sees the last {model.context_length}",
              file=sys.stderr)  # fmt: skip
    return continue_text(
        model, str(cfg.prompt), int(cfg.max_new_tokens), cfg.temperature, cfg.top_k, int(cfg.seed)
    )


@hydra_command("generate")
def main(cfg: DictConfig) -> None:
    print(generate_text(cfg))


if __name__ == "__main__":
    main()
