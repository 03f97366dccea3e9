"""LitGPT: next-token training of `GPTModel` with the metrics, samples and figures the experiment needs.

TensorBoard tags:
    train/loss (every step), train/tokens_seen, val/loss, val/ppl, val/loss_causal (validation loss with
    the causal mask forced on: equals val/loss for causal runs), hp_metric (= best val/loss) and
    hparams/{train_loss,val_loss_causal,gap} for the HParams tab, samples/every_effort (greedy text),
    attention/layer_<i> (heatmaps for "Your journey starts with one step").
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from lightning.pytorch.loggers import TensorBoardLogger
from torch.utils.tensorboard.summary import hparams
from torchmetrics import MeanMetric

from attention_lab.loss import linear_cross_entropy
from attention_lab.model import AttentionConfig, GPTModel, ModelConfig
from attention_lab.sampling import generate, ids_to_text, text_to_ids
from attention_lab.tokenizer import gpt2_tokenizer

SAMPLE_PROMPT = "Every effort moves you"  # the book's chapter 5 prompt
ATTENTION_PROMPT = "Your journey starts with one step"  # the book's chapter 3 sentence
HPARAM_METRICS = ("hp_metric", "hparams/train_loss", "hparams/val_loss_causal", "hparams/gap")


class LitGPT(L.LightningModule):
    """`model` and `attention` are the dicts of conf/model and conf/attention; they are saved in every
    checkpoint so that `LitGPT.load_from_checkpoint(path)` rebuilds the same network."""

    def __init__(
        self,
        model: dict[str, Any],
        attention: dict[str, Any],
        lr: float = 5e-4,
        weight_decay: float = 0.1,
        fused_adamw: bool = True,
        fused_loss: bool = True,
        compile: bool = False,
        sample_tokens: int = 25,
        log_attention_maps: bool = True,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(logger=False)  # the logger gets a flat, readable summary instead
        self.model = GPTModel(ModelConfig(**model), AttentionConfig(**attention))
        # ids → final hidden states; torch.compile'd on request (same maths, kernels fused by Inductor).
        self.features = torch.compile(self.model.features) if compile else self.model.features
        self.causal = self.model.attention_config.causal
        self.train_loss = MeanMetric()
        self.val_loss = MeanMetric()
        self.val_loss_causal = MeanMetric()
        # Saved in checkpoints, so a resumed run continues these counts.
        self.register_buffer("tokens_seen", torch.zeros((), dtype=torch.long))
        self.register_buffer("best_val_loss", torch.tensor(math.inf))

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.model(idx)

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy, the book's `calc_loss_batch`. With `fused_loss` the output head
        and the loss run together (attention_lab.loss): the same numbers, a third less time per step."""
        hidden = self.features(inputs)  # (b, T, emb)
        if self.hparams.fused_loss:
            return linear_cross_entropy(hidden, self.model.out_head.weight, targets)
        logits = self.model.out_head(hidden)  # (b, T, vocab)
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten())

    # --- training -----------------------------------------------------------------------------------
    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        inputs, targets = batch
        loss = self.loss(inputs, targets)
        # Under DDP every process sees its own batch of the same shape: count all of them.
        self.tokens_seen += inputs.numel() * self.trainer.world_size
        self.train_loss.update(loss.detach())
        self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=True)
        self.log("train/tokens_seen", self.tokens_seen.float(), on_step=True, on_epoch=False)
        return loss

    def on_train_epoch_start(self) -> None:
        self.train_loss.reset()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            self.parameters(),
            lr=self.hparams.lr,
            weight_decay=self.hparams.weight_decay,
            fused=self.hparams.fused_adamw,  # one kernel for all parameters: same update, ~10x less time
        )

    # --- validation ---------------------------------------------------------------------------------
    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        inputs, targets = batch
        loss = self.loss(inputs, targets)
        self.val_loss.update(loss, weight=inputs.shape[0])
        if not self.causal:  # judge the model as it generates: later tokens hidden
            with self.model.causal_mask_forced():
                loss = self.loss(inputs, targets)
        self.val_loss_causal.update(loss, weight=inputs.shape[0])

    def on_validation_epoch_end(self) -> None:
        val_loss, val_loss_causal = self.val_loss.compute(), self.val_loss_causal.compute()
        self.val_loss.reset()
        self.val_loss_causal.reset()
        if self.trainer.sanity_checking:
            return
        self.best_val_loss = torch.minimum(self.best_val_loss, val_loss)
        # compute() already combined all DDP processes, so every rank holds the same values: sync_dist
        # averages equal numbers (single process: a no-op) and tells Lightning they are global.
        self.log("val/loss", val_loss, prog_bar=True, sync_dist=True)
        self.log_dict({"val/ppl": torch.exp(val_loss), "val/loss_causal": val_loss_causal}, sync_dist=True)
        metrics = {"hp_metric": self.best_val_loss, "hparams/val_loss_causal": val_loss_causal}
        if self.train_loss.update_count:  # no training batch yet when validating before fitting
            train_loss = self.train_loss.compute()
            metrics |= {"hparams/train_loss": train_loss, "hparams/gap": val_loss - train_loss}
        self.log_dict(metrics, sync_dist=True)
        tensorboard = self.tensorboard()
        if tensorboard is not None:
            self.log_sample(tensorboard)
            if self.hparams.log_attention_maps:
                self.log_attention_maps(tensorboard)

    # --- TensorBoard extras -------------------------------------------------------------------------
    def tensorboard(self):
        """The TensorBoard SummaryWriter, or None when logging elsewhere or on a non-zero rank."""
        if isinstance(self.logger, TensorBoardLogger) and self.trainer.is_global_zero:
            return self.logger.experiment
        return None

    def on_fit_start(self) -> None:
        """Register the run in the HParams tab once (not again when resuming, which would rewind steps), from
        rank zero only: under DDP the other processes hold a no-op stand-in for the SummaryWriter."""
        writer = self.tensorboard()
        if writer is not None and self.global_step == 0:
            model, attention = self.hparams.model, self.hparams.attention
            summary = {
                "variant": attention["name"],
                "causal": attention["causal"],
                "dropout": attention["dropout"],
                "drop_rate": model["drop_rate"],
                "model": model["name"],
                "lr": self.hparams.lr,
                "weight_decay": self.hparams.weight_decay,
                "seed": -1 if self.hparams.seed is None else self.hparams.seed,
            }
            # Declare the metric tags without writing placeholder values; the values are the scalars
            # logged under the same tags at each validation end (the HParams tab shows the latest).
            self.logger.hparams.update(summary)  # also saved as hparams.yaml beside the events
            # torch's hparams() would store a bool as the number 1.0/0.0: the tab shows "true"/"false".
            shown = {k: str(v).lower() if isinstance(v, bool) else v for k, v in summary.items()}
            for summary_proto in hparams(shown, dict.fromkeys(HPARAM_METRICS, 0.0)):
                writer.file_writer.add_summary(summary_proto)

    def log_sample(self, tensorboard) -> None:
        """Greedy continuation of the book's prompt, as a TensorBoard text entry."""
        ids = generate(
            self.model,
            text_to_ids(SAMPLE_PROMPT).to(self.device),
            max_new_tokens=self.hparams.sample_tokens,
            context_length=self.model.context_length,
        )
        text = ids_to_text(ids).replace("\n", " ")
        tensorboard.add_text("samples/every_effort", text, self.global_step)

    def log_attention_maps(self, tensorboard) -> None:
        from attention_lab.visualize import attention_figure

        idx = text_to_ids(ATTENTION_PROMPT).to(self.device)
        tokenizer = gpt2_tokenizer()
        tokens = [tokenizer.decode([t]) for t in idx[0].tolist()]
        for layer, weights in enumerate(self.model.attention_maps(idx)):
            title = f"layer {layer} · epoch {self.current_epoch} · step {self.global_step}"
            tensorboard.add_figure(
                f"attention/layer_{layer}", attention_figure(weights, tokens, title), self.global_step
            )
