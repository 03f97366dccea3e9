"""What a run shows in TensorBoard beyond its scalars: the HParams row, a text sample and attention heatmaps.

Tags: samples/every_effort (greedy continuation of the book's prompt), attention/layer_<i> (one heatmap
figure per layer for the book's chapter 3 sentence) and the HParams session of the run.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger

SAMPLE_PROMPT = "Every effort moves you"  # the book's chapter 5 prompt
ATTENTION_PROMPT = "Your journey starts with one step"  # the book's chapter 3 sentence
# Scalars LitGPT logs at each validation end that the HParams tab shows beside the settings.
HPARAM_METRICS = (
    "hp_metric",
    "hparams/val_loss",
    "hparams/val_loss_causal",
    "hparams/train_loss",
    "hparams/gap",
)


def attention_figure(weights: torch.Tensor, tokens: list[str], title: str):
    """A matplotlib Figure of (heads, T, T) attention weights: rows are queries, columns are keys.

    A causal layer shows an empty upper triangle: no token attends to a later one.
    """
    from matplotlib.figure import Figure  # imported here: matplotlib is not needed to start training

    num_heads = weights.shape[0]
    size = 0.35 * len(tokens) + 1.2
    fig = Figure(figsize=(size * num_heads, size + 0.4), layout="constrained")
    axes = fig.subplots(1, num_heads, squeeze=False)[0]
    for head, ax in enumerate(axes):
        image = ax.imshow(weights[head].float().cpu().numpy(), vmin=0.0, vmax=1.0, cmap="viridis")
        ax.set_title(f"head {head}", fontsize=8)
        ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=7)
        ax.set_yticks(range(len(tokens)), tokens if head == 0 else [], fontsize=7)
        ax.set_xlabel("key (attended to)", fontsize=7)
    axes[0].set_ylabel("query", fontsize=7)
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="attention weight")
    fig.suptitle(title, fontsize=9)
    return fig


class TensorBoardExtras(L.Callback):
    """Registers the run in the HParams tab with `hparams` (the settings a learner compares runs by), and
    after each validation logs a greedy sample of `sample_tokens` tokens (0 = none) and, with
    `attention_maps`, the attention heatmaps. Only on rank zero, only with a TensorBoardLogger."""

    def __init__(self, hparams: dict[str, Any], sample_tokens: int = 25, attention_maps: bool = True) -> None:
        self.hparams, self.sample_tokens, self.attention_maps = dict(hparams), sample_tokens, attention_maps

    @staticmethod
    def writer(trainer: L.Trainer):
        """The TensorBoard SummaryWriter, or None when logging elsewhere or on a non-zero rank."""
        logger = trainer.logger
        if isinstance(logger, TensorBoardLogger) and trainer.is_global_zero:
            return logger.experiment
        return None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Register the run once (not again when resuming, which would rewind steps)."""
        from torch.utils.tensorboard.summary import hparams

        writer = self.writer(trainer)
        if writer is None or trainer.global_step != 0:
            return
        trainer.logger.hparams.update(self.hparams)  # also saved as hparams.yaml beside the events
        # torch's hparams() would store a bool as the number 1.0/0.0: the tab shows "true"/"false".
        shown = {k: str(v).lower() if isinstance(v, bool) else v for k, v in self.hparams.items()}
        # Declares the metric tags without placeholder values: the tab shows the scalars logged under them.
        for summary in hparams(shown, dict.fromkeys(HPARAM_METRICS, 0.0)):
            writer.file_writer.add_summary(summary)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = self.writer(trainer)
        if writer is None or trainer.sanity_checking:
            return
        if self.sample_tokens:
            writer.add_text("samples/every_effort", self.sample(pl_module), trainer.global_step)
        if self.attention_maps:
            self.log_attention_maps(writer, trainer, pl_module)

    def sample(self, pl_module: L.LightningModule) -> str:
        """Greedy continuation of the book's prompt, on one line."""
        from attention_lab.sampling import generate, ids_to_text, text_to_ids

        model = pl_module.model
        prompt = text_to_ids(SAMPLE_PROMPT).to(pl_module.device)
        ids = generate(model, prompt, max_new_tokens=self.sample_tokens, context_length=model.context_length)
        return ids_to_text(ids).replace("\n", " ")

    def log_attention_maps(self, writer, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from attention_lab.sampling import text_to_ids
        from attention_lab.tokenizer import gpt2_tokenizer

        idx = text_to_ids(ATTENTION_PROMPT).to(pl_module.device)
        tokens = [gpt2_tokenizer().decode([t]) for t in idx[0].tolist()]
        for layer, weights in enumerate(pl_module.model.attention_maps(idx)):
            title = f"layer {layer} · epoch {trainer.current_epoch} · step {trainer.global_step}"
            figure = attention_figure(weights, tokens, title)
            writer.add_figure(f"attention/layer_{layer}", figure, trainer.global_step)
