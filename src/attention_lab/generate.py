"""`python -m attention_lab.generate ckpt=<path|last> [prompt="..."] [key=value ...]` (conf/generate.yaml).

A thin command line over `attention_lab.sampling`: Hydra overrides in, the continued text out.
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig

from attention_lab.checks import validate_generate
from attention_lab.config import hydra_command
from attention_lab.errors import ConfigError


def resolve_checkpoint(ckpt: str | None, log_dir: str | Path) -> Path:
    """`ckpt` as a readable checkpoint; `last` means the most recently written one under `log_dir` (a
    best.ckpt included: generation needs the weights only)."""
    from attention_lab.resume import find_last_checkpoint, read_checkpoint

    if ckpt is None:
        raise ConfigError("ckpt=null is not allowed: it must be a .ckpt written by train.py, or ckpt=last")
    if ckpt == "last":
        path = find_last_checkpoint(Path(log_dir), "**/*.ckpt", setting="ckpt")
        if path is None:
            raise ConfigError(
                f"ckpt=last found no readable checkpoint under log_dir={log_dir}; train a run with "
                "checkpoints first, or give ckpt=<path to a .ckpt file>"
            )
        return path
    path = Path(str(ckpt)).expanduser()
    read_checkpoint(path, setting="ckpt")  # a directory, a device or another file: one clear line
    return path


def generate_text(cfg: DictConfig) -> str:
    """The prompt and its continuation, as `cfg` (conf/generate.yaml) asks."""
    from attention_lab.sampling import continue_text, load_model, text_to_ids

    validate_generate(cfg)  # before the (slow) checkpoint load
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
