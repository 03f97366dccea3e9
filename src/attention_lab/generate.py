"""`python -m attention_lab.generate ckpt=<path|last> [prompt="..."] [key=value ...]` (conf/generate.yaml).

The command line of generation: Hydra overrides in, the prompt and its continuation out.
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import DictConfig

from attention_lab.cli import hydra_command


def generate_text(cfg: DictConfig) -> str:
    """The prompt and its continuation, as `cfg` (conf/generate.yaml) asks."""
    from attention_lab.settings import GenerateSettings, checked  # here, as the others: `--help` stays quick

    settings = checked(GenerateSettings, cfg)  # before Lightning's import and the checkpoint's load
    from attention_lab.data.tokenizer import text_to_ids
    from attention_lab.model.generation import continue_text
    from attention_lab.training.checkpoints import model_from_checkpoint
    from attention_lab.training.resume import resolve_checkpoint

    checkpoint = resolve_checkpoint(settings.ckpt, settings.log_dir)
    model = model_from_checkpoint(checkpoint)
    prompt = settings.prompt or trained_prompt(checkpoint)
    n_prompt = text_to_ids(prompt).shape[1]
    if n_prompt > model.context_length:
        print(f"note: the prompt has {n_prompt} tokens; the model sees the last {model.context_length}",
              file=sys.stderr)  # fmt: skip
    sampling = (settings.max_new_tokens, settings.temperature, settings.top_k, settings.seed)
    return continue_text(model, prompt, *sampling)


def trained_prompt(checkpoint: Path) -> str:
    """The prompt of the data the checkpoint's run trained on (its data.prompt, e.g. ROMEO: for
    data=shakespeare), read from the config.yaml beside its checkpoints/; the book's where it has none."""
    from omegaconf import OmegaConf

    from attention_lab.data.text import BOOK_PROMPT
    from attention_lab.run_record import CONFIG_FILE

    saved = checkpoint.parent.parent / CONFIG_FILE  # <version dir>/checkpoints/<kind>.ckpt
    data = OmegaConf.load(saved).get("data", {}) if saved.is_file() else {}
    return data.get("prompt") or BOOK_PROMPT


@hydra_command("generate")
def main(cfg: DictConfig) -> None:
    print(generate_text(cfg))


if __name__ == "__main__":
    main()
