"""`python -m attention_lab.generate ckpt=<path|last> [prompt="..."] [key=value ...]` (conf/generate.yaml).

The command line of generation: Hydra overrides in, the prompt and its continuation out.
"""

from __future__ import annotations

import sys

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

    model = model_from_checkpoint(resolve_checkpoint(settings.ckpt, settings.log_dir))
    n_prompt = text_to_ids(settings.prompt).shape[1]
    if n_prompt > model.context_length:
        print(f"note: the prompt has {n_prompt} tokens; the model sees the last {model.context_length}",
              file=sys.stderr)  # fmt: skip
    return continue_text(
        model, settings.prompt, settings.max_new_tokens, settings.temperature, settings.top_k, settings.seed
    )


@hydra_command("generate")
def main(cfg: DictConfig) -> None:
    print(generate_text(cfg))


if __name__ == "__main__":
    main()
