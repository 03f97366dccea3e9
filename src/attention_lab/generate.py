"""`python -m attention_lab.generate ckpt=<path|last> [prompt="..."] [key=value ...]` (conf/generate.yaml).

The command line of generation: Hydra overrides in, the prompt and its continuation out, in the tokenizer
the checkpoint's model was trained with (its data's: GPT-2's BPE, or a text's characters).
"""

from __future__ import annotations

import sys

from omegaconf import DictConfig

from attention_lab.cli import hydra_command
from attention_lab.model.generation import continue_text, prompt_ids
from attention_lab.settings import GenerateSettings, checked
from attention_lab.training.checkpoints import model_from_checkpoint
from attention_lab.training.resume import resolve_checkpoint


def generate_text(cfg: DictConfig) -> str:
    """The prompt and its continuation, as `cfg` (conf/generate.yaml) asks; without a prompt, the prompt of
    the data the model was trained on (data.prompt: ROMEO: for Tiny Shakespeare, else the book's)."""
    settings = checked(GenerateSettings, cfg)  # before the checkpoint is read
    model = model_from_checkpoint(resolve_checkpoint(settings.ckpt, settings.log_dir))
    prompt = settings.prompt or model.prompt
    if (tokens := prompt_ids(model, prompt).shape[1]) > model.context_length:
        print(f"note: the prompt has {tokens} tokens; the model sees the last {model.context_length}",
              file=sys.stderr)  # fmt: skip
    return continue_text(model, prompt, settings.max_new_tokens, settings.temperature, settings.top_k,
                         settings.seed)  # fmt: skip


@hydra_command("generate")
def main(cfg: DictConfig) -> None:
    print(generate_text(cfg))


if __name__ == "__main__":
    main()
