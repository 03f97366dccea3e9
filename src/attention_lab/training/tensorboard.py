"""What a run shows in TensorBoard beyond its scalars: the HParams row, the custom charts, where attention
looks, text samples, attention heatmaps and the loss by position as a curve (tag names: attention_lab.tags).

After every validation: val_attention/<focus>/layer_<i>, the mean weight a query of the first validation
batch puts on the next token, itself, the previous token and the first token (the leak as a curve). With
the samples' cadence: samples/greedy and samples/top_k (the data's prompt continued greedily, and sampled),
val_attention/layer_<i> (one heatmap figure per layer for the data's heatmap text) and
val_loss_by_position/curve. Once: the custom scalars layout (val/loss beside val/loss_causal in one chart,
the weight on the next token beside it) and the HParams session of the run.
"""

from __future__ import annotations

import json
import textwrap
import time
from typing import Annotated, Any
from urllib.parse import quote

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger as LightningTensorBoardLogger
from pydantic import Field
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams

from attention_lab import tags
from attention_lab.model.generation import continue_text
from attention_lab.model.gpt import attention_focus
from attention_lab.run_record import AROUND_THE_SEED, RunAxes
from attention_lab.training.callbacks import is_last_validation
from attention_lab.training.heatmaps import HeatmapFigure
from attention_lab.training.position_loss import position_image

# Scalars LitGPT logs at each validation end that the HParams tab shows beside the settings (their last
# values), with the column titles it shows: the last val loss beside its causal-mask twin, the best apart.
HPARAM_METRICS = {
    tags.VAL_LOSS: "val loss (last)",
    tags.VAL_LOSS_CAUSAL: "val loss, causal mask (last)",
    tags.BEST_VAL_LOSS: "val loss (best)",
    tags.EPOCH_TRAIN_LOSS: "train loss (last epoch)",
    tags.GAP: "gap val−train (last)",
}
# The axes the HParams table shows without ticking: those of the sweeps. The others are listed (and can be
# ticked on) but start hidden.
SHOWN_HPARAMS = ("variant", "causal", "dropout", "seed", "lr")
# TensorBoard's Custom Scalars tab: val/loss and val/loss_causal of every run in one chart, so a run trained
# without the mask shows its leak (the gap between its two curves) at a glance.
MASK_LAYOUT = {
    "mask": {
        "val loss vs val loss with the causal mask forced (a gap = the run looked ahead)": [
            "Multiline",
            [f"^{tags.VAL_LOSS}$", f"^{tags.VAL_LOSS_CAUSAL}$"],
        ],
        "the weight a query puts on the token it must predict, per layer (0 under the mask)": [
            "Multiline",
            [f"^{tags.FOCUS.format(tags.NEXT_TOKEN, '')}"],
        ],
        "train loss": ["Multiline", [f"^{tags.TRAIN_LOSS}$"]],
    }
}


# Runs that differ only by seed share a colour: TensorBoard groups runs by what this regular expression
# captures of their names (mha-non-causal-p0.2-s3/version_0 → mha-non-causal-p0.2; …-s3-lr0.001/version_0
# → …, -lr0.001), so mask on and off, and any other swept setting, are told apart at a glance.
COLOUR_BY_CELL = f"{AROUND_THE_SEED}/"


def landing_url(base: str, n_layers: int = 2) -> str:
    """TensorBoard's address `base` opening on the experiment: val/loss, val/loss_causal and the attention
    on the next token of layers 0 … n_layers − 1 pinned above every other card (Time Series sorts the rest
    by tag), runs coloured by their cell (COLOUR_BY_CELL)."""
    next_token = [tags.FOCUS.format(tags.NEXT_TOKEN, layer) for layer in range(n_layers)]
    pinned = [tags.VAL_LOSS, tags.VAL_LOSS_CAUSAL, *next_token]
    cards = json.dumps([{"plugin": "scalars", "tag": tag} for tag in pinned], separators=(",", ":"))
    colours = quote(f"regex:{COLOUR_BY_CELL}", safe=":")
    return f"{base.rstrip('/')}/?pinnedCards={cards}&runColorGroup={colours}#timeseries"


def show_in_hparams_table(experiment_summary: Summary) -> None:
    """Edit torch's HParams experiment summary in place: SHOWN_HPARAMS marked as differing, metrics titled.

    The HParams table shows a setting without ticking it only when `differs` is set; torch's hparams()
    leaves it unset, and an inferred experiment sets it only for values that differ across the runs.
    """
    plugin_data = experiment_summary.value[0].metadata.plugin_data
    content = HParamsPluginData.FromString(plugin_data.content)
    for info in content.experiment.hparam_infos:
        info.differs = info.name in SHOWN_HPARAMS
    for info in content.experiment.metric_infos:
        info.display_name = HPARAM_METRICS[info.name.tag]
    plugin_data.content = content.SerializeToString()


def as_code_block(text: str) -> str:
    """`text` as a Markdown code block (each line indented by 4): TensorBoard's Text tab keeps its lines."""
    return textwrap.indent(text, "    ", lambda line: True)


def when(trainer: L.Trainer) -> str:
    """Where in training an image was logged, for its title: "epoch 3 (step 120)"."""
    return f"epoch {trainer.current_epoch} (step {trainer.global_step})"


class TensorBoardLogger(LightningTensorBoardLogger):
    """Lightning's TensorBoardLogger without the `epoch` scalar Lightning adds to every log call: Time Series
    sorts cards by tag and `epoch` would open the page. The x-axis (step) already orders epochs."""

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        super().log_metrics({k: v for k, v in metrics.items() if k != "epoch"}, step)


class TensorBoardExtras(L.Callback):
    """Registers the run in the HParams tab with its `axes` (attention_lab.run_record.RunAxes: the settings a
    learner compares runs by) and the mask chart in Custom Scalars; after every validation, with
    `attention_focus`, logs where attention looks on the first validation batch; after a validation logs
    two continuations of `sample_tokens` tokens (0 = none) of the data's prompt (greedy, and sampled at
    `sample_temperature` among the `sample_top_k` most likely tokens from a fixed seed, which leaves the
    run's random state as it was), with `attention_maps` the attention heatmaps, and the val loss by
    position as a curve.

    Cadence of the samples and heatmaps: after the first epoch, then every `every_n_epochs` epochs while one
    more call and the last epoch's call keep their time within `max_time_share` of the fit's wall time so
    far (null = no cap), and always after the last epoch.
    Only on rank zero, only with a TensorBoardLogger."""

    def __init__(
        self,
        axes: Annotated[dict[str, Any], Field(description="the run's axes: its row in the HParams tab")],
        sample_tokens: Annotated[int, Field(ge=0, description="tokens generated per sample")] = 25,
        sample_temperature: Annotated[float, Field(gt=0, description="the sampled text's temperature")] = 1.0,
        sample_top_k: Annotated[int | None, Field(ge=1, description="its top-k; null: all tokens")] = 40,
        attention_maps: Annotated[bool, Field(description="log attention heatmaps")] = True,
        attention_focus: Annotated[bool, Field(description="log where attention looks (validations)")] = True,
        every_n_epochs: Annotated[int, Field(ge=1, description="epochs between samples and heatmaps")] = 1,
        max_time_share: Annotated[
            float | None, Field(gt=0, le=1, description="the most of the run's time they may take; null: all")
        ] = 0.05,
    ) -> None:
        self.axes, self.sample_tokens, self.attention_maps = RunAxes(**axes), sample_tokens, attention_maps
        self.sampling = {"temperature": sample_temperature, "top_k": sample_top_k}
        self.attention_focus, self.focus = attention_focus, []  # per layer: {next_token: weight, ...}
        self.every_n_epochs, self.max_time_share = max(1, int(every_n_epochs)), max_time_share
        self.fit_started = self.extras_seconds = self.last_call_seconds = 0.0
        self.heatmap: HeatmapFigure | None = None  # renders every layer, kept between epochs

    @staticmethod
    def writer(trainer: L.Trainer) -> SummaryWriter | None:
        """The TensorBoard SummaryWriter, or None when logging elsewhere or on a non-zero rank."""
        logger = trainer.logger
        if isinstance(logger, LightningTensorBoardLogger) and trainer.is_global_zero:
            return logger.experiment
        return None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Register the run once (not again when resuming, which would rewind steps)."""
        self.fit_started, self.extras_seconds, self.last_call_seconds = time.perf_counter(), 0.0, 0.0
        writer = self.writer(trainer)
        if writer is None or trainer.ckpt_path is not None:  # fit_start comes before the restore: step 0
            return
        row = self.axes.hparams()
        trainer.logger.hparams.update(row)  # also saved as hparams.yaml beside the events
        # torch's hparams() would store a bool as the number 1.0/0.0: the tab shows "true"/"false".
        shown = {k: str(v).lower() if isinstance(v, bool) else v for k, v in row.items()}
        # Declares the metric tags without placeholder values: the tab shows the scalars logged under them.
        summaries = hparams(shown, dict.fromkeys(HPARAM_METRICS, 0.0))
        show_in_hparams_table(summaries[0])
        for summary in summaries:
            writer.file_writer.add_summary(summary)
        writer.add_custom_scalars(MASK_LAYOUT)

    def is_due(self, trainer: L.Trainer) -> bool:
        """Whether the samples and heatmaps are logged after this validation (see the class docstring)."""
        if is_last_validation(trainer):
            return True
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            return False
        # Would the share stay within the cap, counting this call and the one the last epoch will make
        # each as long as the previous call? Holding back the last call's share keeps the whole fit's
        # extras within the cap, not the cap plus one call.
        elapsed = time.perf_counter() - self.fit_started
        spent = self.extras_seconds + 2 * self.last_call_seconds
        return self.max_time_share is None or spent <= self.max_time_share * elapsed

    def on_validation_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, _: Any, batch: Any, batch_idx: int, *__: Any
    ) -> None:
        """Where the queries of the first validation batch look, per layer (its cost counts as extras')."""
        if batch_idx or not self.attention_focus or trainer.sanity_checking or self.writer(trainer) is None:
            return
        started = time.perf_counter()
        self.focus = [attention_focus(weights) for weights in pl_module.model.attention_maps(batch[0])]
        self.extras_seconds += time.perf_counter() - started

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Where attention looks, logged as val/loss is (at its step). Only rank 0 measures it (its first
        validation batch), so only rank 0 logs it: no collective call that the other ranks would not join."""
        focus = {tags.FOCUS.format(name, layer): weight for layer, by_name in enumerate(self.focus)
                 for name, weight in by_name.items()}  # fmt: skip
        self.focus = []
        if focus and not trainer.sanity_checking:
            pl_module.log_dict(focus, rank_zero_only=True)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = self.writer(trainer)
        if writer is None or trainer.sanity_checking or not self.is_due(trainer):
            return
        started = time.perf_counter()
        val_loss = trainer.callback_metrics.get(tags.VAL_LOSS)
        diverged = val_loss is not None and not torch.isfinite(val_loss).all()  # no sampling from NaN logits
        if self.sample_tokens and not diverged:  # the data's prompt: a text's, or a recall question
            greedy, sampled = self.samples(pl_module, trainer.datamodule.config.sample_prompt)
            writer.add_text(tags.SAMPLE_GREEDY, greedy, trainer.global_step)
            writer.add_text(tags.SAMPLE_TOP_K, sampled, trainer.global_step)
        if self.attention_maps:
            self.log_attention_maps(writer, trainer, pl_module)
        if pl_module.loss_by_position is not None:
            title = self.axes.title(when(trainer))
            image = position_image(pl_module.loss_by_position, f"val loss by position · {title}")
            writer.add_image(tags.POSITION_CURVE, image, trainer.global_step, dataformats="HWC")
        self.last_call_seconds = time.perf_counter() - started
        self.extras_seconds += self.last_call_seconds

    def samples(self, pl_module: L.LightningModule, prompt: str) -> tuple[str, str]:
        """`prompt` continued greedily and sampled, each as a Markdown code block (its line breaks kept)."""
        # continue_text samples from a generator of its own: the run's dropout masks stay those it would draw.
        return tuple(as_code_block(continue_text(pl_module.model, prompt, self.sample_tokens, **sampling))
                     for sampling in ({}, self.sampling))  # fmt: skip

    def log_attention_maps(
        self, writer: SummaryWriter, trainer: L.Trainer, pl_module: L.LightningModule
    ) -> None:
        """One heatmap figure per layer for the data's heatmap text (its first context_length tokens): a
        text's, or for data=recall a validation sequence up to its second question."""
        idx, tokens = trainer.datamodule.heatmap_example(pl_module.model.context_length)
        idx = idx.to(pl_module.device)
        for layer, weights in enumerate(pl_module.model.attention_maps(idx)):
            weights = weights[0]  # (heads, T, T) of the one sentence
            title = self.axes.title(f"layer {layer} · {when(trainer)}")
            if self.heatmap is None:
                self.heatmap = HeatmapFigure(weights, tokens, title)
            image = self.heatmap.render(weights, title)
            writer.add_image(tags.HEATMAP.format(layer), image, trainer.global_step, dataformats="HWC")
