"""LitGPT: next-token training of `GPTModel`, its metrics and its optimizer (conf/module, conf/optimizer).

Scalars: train/loss (every step), train/tokens_seen, train/seconds (the seconds spent in training steps,
across a resume: the report's equal-time axis), val/loss, val/ppl, val/accuracy (the share of scored targets
predicted right: next tokens of a text, answers of a recall task), val/loss_causal (validation loss
with the causal mask forced on: equals val/loss for causal runs), for a text the validation loss at
positions 1, 2, 4, … of the window (val_loss_by_position/, training/position_loss.py), and beside them for
the HParams tab val_summary/{loss_best,train_loss,gap}. Samples, heatmaps and the HParams row itself are
written by the TensorBoardExtras callback.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torchmetrics import MeanMetric

from attention_lab import tags
from attention_lab.data.config import AnyData, data_config
from attention_lab.data.recall import NO_ANSWER
from attention_lab.model import AttentionConfig, GPTModel, ModelConfig
from attention_lab.model.loss import linear_cross_entropy, token_losses
from attention_lab.settings import TrainSettings
from attention_lab.settings.schema import Optimizer
from attention_lab.training.position_loss import PositionMean, logged_positions


def warmup_cosine_schedule(
    peak_lr: float,
    total_steps: int,
    warmup_steps: int = 0,
    initial_lr: float | None = None,
    min_lr: float | None = None,
) -> Callable[[int], float]:
    """Appendix D's learning rate for optimizer step s (0-based): a linear warmup from `initial_lr` towards
    `peak_lr` over `warmup_steps` steps, then a cosine decay from `peak_lr` to `min_lr` at `total_steps`.
    `min_lr=None` keeps the peak after the warmup; `initial_lr=None` starts the warmup at 0."""
    start = 0.0 if initial_lr is None else initial_lr
    increment = (peak_lr - start) / warmup_steps if warmup_steps else 0.0

    def lr(step: int) -> float:
        if step < warmup_steps:
            return start + step * increment
        if min_lr is None:
            return peak_lr
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return min_lr + (peak_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))

    return lr


class LitGPT(L.LightningModule):
    """GPTModel trained on next tokens, built from the run's checked settings: the model's sizes, its
    attention variant, the optimizer and the data (whose tokenizer says what the ids mean). Each is saved in
    every checkpoint as plain values, so that `LitGPT.load_from_checkpoint(path)` rebuilds the same network;
    given as such values, they are checked again.

    `fused_loss` computes the output head and the cross-entropy together (attention_lab.model.loss): the same
    loss and gradients without autograd's copies of the logits. `compile` runs the network through
    torch.compile (the same maths; Inductor fuses kernels, at a compile cost up front).
    """

    def __init__(
        self,
        model: ModelConfig | dict[str, Any],
        attention: AttentionConfig | dict[str, Any],
        optimizer: Optimizer | dict[str, Any],
        data: AnyData | dict[str, Any],
        fused_loss: bool = True,
        compile: bool = False,
    ) -> None:
        super().__init__()
        model, attention = ModelConfig.model_validate(model), AttentionConfig.model_validate(attention)
        self.optimizer_config = Optimizer.model_validate(optimizer)
        data = data_config(data)
        saved = {"model": model, "attention": attention, "optimizer": self.optimizer_config, "data": data}
        # The HParams tab gets a flat summary (TensorBoardExtras), not these.
        self.save_hyperparameters({**{key: config.model_dump(mode="json") for key, config in saved.items()},
                                   "fused_loss": fused_loss, "compile": compile}, logger=False)  # fmt: skip
        self.model = GPTModel(model, attention, data)
        self.features = torch.compile(self.model.features) if compile else self.model.features
        self.causal = attention.causal
        self.train_loss = MeanMetric()
        self.val_loss = MeanMetric()
        self.val_loss_causal = MeanMetric()
        self.val_accuracy = MeanMetric()
        # A text scores every target (the loss by position is a text's); recall only its answers.
        self.every_target_scored = data.scores_every_target
        self.val_loss_by_position = PositionMean(model.context_length) if self.every_target_scored else None
        self.loss_by_position: torch.Tensor | None = None  # (T,) of the last validation
        # Saved in checkpoints, so a resumed run continues these counts.
        self.register_buffer("tokens_seen", torch.zeros((), dtype=torch.long))
        self.register_buffer("best_val_loss", torch.tensor(math.inf))
        # Seconds in training steps (forward, backward, optimizer step), not in validation, samples or
        # checkpoints, which Lightning's ThroughputMonitor's train/time counts after a validation's last
        # batch; a float, not a buffer, so that a bf16-true module keeps its precision.
        self.train_seconds, self.step_started = 0.0, 0.0

    @classmethod
    def of(cls, settings: TrainSettings) -> LitGPT:
        """The module a run's checked settings build."""
        return cls(settings.model, settings.attention, settings.optimizer, settings.data,
                   **settings.module.model_dump())  # fmt: skip

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.model(idx)

    def loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy, the book's `calc_loss_batch`, over the scored targets: all of a
        text's, the answers of a recall task (the others are NO_ANSWER)."""
        hidden = self.features(inputs)  # (b, T, emb)
        if not self.every_target_scored:
            scored = targets != NO_ANSWER
            hidden, targets = hidden[scored], targets[scored]  # (answers, emb), (answers,)
        if self.hparams.fused_loss:
            return linear_cross_entropy(hidden, self.model.out_head.weight, targets)
        logits = self.model.out_head(hidden)  # (..., vocab)
        return F.cross_entropy(logits.flatten(0, -2), targets.flatten())

    # --- training -----------------------------------------------------------------------------------
    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        inputs, targets = batch
        loss = self.loss(inputs, targets)
        # Under DDP every process sees its own batch of the same shape: count all of them.
        self.tokens_seen += inputs.numel() * self.trainer.world_size
        self.train_loss.update(loss.detach())
        self.log(tags.TRAIN_LOSS, loss, on_step=True, on_epoch=False, prog_bar=True)
        self.log(tags.TOKENS_SEEN, self.tokens_seen.float(), on_step=True, on_epoch=False)
        return loss

    def on_train_epoch_start(self) -> None:
        self.train_loss.reset()

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self.step_started = time.perf_counter()

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.train_seconds += time.perf_counter() - self.step_started
        self.log(tags.TRAIN_SECONDS, self.train_seconds, on_step=True, on_epoch=False)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["train_seconds"] = self.train_seconds

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.train_seconds = checkpoint.get("train_seconds", 0.0)

    def configure_optimizers(self) -> dict[str, Any]:
        settings = self.optimizer_config
        optimizer = torch.optim.AdamW(
            self.parameters(),
            lr=settings.lr,
            weight_decay=settings.weight_decay,
            fused=settings.fused,  # one kernel for all parameters: the same update
        )
        if not settings.warmup_steps and settings.min_lr is None:
            return {"optimizer": optimizer}  # a constant learning rate
        schedule = warmup_cosine_schedule(
            peak_lr=settings.lr,
            total_steps=int(self.trainer.estimated_stepping_batches),
            warmup_steps=settings.warmup_steps,
            initial_lr=settings.initial_lr,
            min_lr=settings.min_lr,
        )
        # LambdaLR scales the peak rate: the factor for optimizer step s is schedule(s) / peak.
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: schedule(step) / settings.lr)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """`trainer.gradient_clip_val` clips from the end of the warmup on, as Appendix D does: during the
        warmup the small learning rate already keeps the updates small."""
        if self.global_step < self.optimizer_config.warmup_steps:
            return
        self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)

    # --- validation ---------------------------------------------------------------------------------
    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        inputs, targets = batch
        scored = int((targets != NO_ANSWER).sum())  # all of a text's targets, the answers of a recall task
        hidden = self.features(inputs)
        losses, hits = token_losses(hidden, self.model.out_head.weight, targets)  # (b, T); 0 where not scored
        self.val_loss.update(losses.sum() / scored, weight=scored)
        self.val_accuracy.update(hits.sum() / scored, weight=scored)
        if not self.causal:  # judge the model as it generates: later tokens hidden
            with self.model.causal_mask_forced():
                losses, _ = token_losses(self.features(inputs), self.model.out_head.weight, targets)
        self.val_loss_causal.update(losses.sum() / scored, weight=scored)
        if self.val_loss_by_position is not None:  # as it generates: no position reads its answer
            self.val_loss_by_position.update(losses)

    def on_validation_epoch_end(self) -> None:
        scalars = (self.val_loss, self.val_loss_causal, self.val_accuracy)
        val_loss, val_loss_causal, accuracy = (metric.compute() for metric in scalars)
        by_position = self.val_loss_by_position
        curve = by_position.curve() if by_position is not None else None
        for metric in (self.val_loss, self.val_loss_causal, self.val_accuracy, by_position):
            if metric is not None:
                metric.reset()
        if self.trainer.sanity_checking:
            return
        self.best_val_loss = torch.minimum(self.best_val_loss, val_loss)
        self.loss_by_position = curve
        # compute() already combined all DDP processes, so every rank holds the same values: sync_dist
        # averages equal numbers (single process: a no-op) and tells Lightning they are global.
        self.log(tags.VAL_LOSS, val_loss, prog_bar=True, sync_dist=True)
        metrics = {tags.VAL_PPL: torch.exp(val_loss), tags.VAL_LOSS_CAUSAL: val_loss_causal,
                   tags.VAL_ACCURACY: accuracy}  # fmt: skip
        if curve is not None:
            metrics |= {tags.POSITION.format(p): curve[p - 1] for p in logged_positions(len(curve))}
        metrics[tags.BEST_VAL_LOSS] = self.best_val_loss
        if self.train_loss.update_count:  # no training batch yet when validating before fitting
            train_loss = self.train_loss.compute()
            metrics |= {tags.EPOCH_TRAIN_LOSS: train_loss, tags.GAP: val_loss - train_loss}
        self.log_dict(metrics, sync_dist=True)
