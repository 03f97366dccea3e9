"""What a run shows in TensorBoard beyond its scalars: the HParams row, the mask chart, a text sample and
attention heatmaps.

Tags: samples/every_effort (greedy continuation of the book's prompt), val_attention/layer_<i> (one heatmap
figure per layer for the book's chapter 3 sentence; the group sorts after train/ and val/, so the landing
page opens on the loss curves), the custom scalars layout (val/loss beside val/loss_causal in one chart)
and the HParams session of the run.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger as LightningTensorBoardLogger

from attention_lab.callbacks import is_final_epoch, stopped_by_steps

if TYPE_CHECKING:  # matplotlib, tensorboard's protos and torch's writer: imported where they are used
    from matplotlib.figure import Figure
    from tensorboard.compat.proto.summary_pb2 import Summary
    from torch.utils.tensorboard import SummaryWriter

ATTENTION_PROMPT = "Your journey starts with one step"  # the book's chapter 3 sentence
HEATMAP_TAG = "val_attention/layer_{}"
# Scalars LitGPT logs at each validation end that the HParams tab shows beside the settings, with the
# column titles it shows: the last val loss sits beside its causal-mask twin, the best apart.
HPARAM_METRICS = {
    "hparams/val_loss": "val loss (last)",
    "hparams/val_loss_causal": "val loss, causal mask (last)",
    "hp_metric": "val loss (best)",
    "hparams/train_loss": "train loss (last epoch)",
    "hparams/gap": "gap val−train (last)",
}
# The settings the HParams table shows without ticking: the axes of the sweeps. The others are listed
# (and can be ticked on) but start hidden.
SHOWN_HPARAMS = ("variant", "causal", "dropout", "seed", "lr")
# TensorBoard's Custom Scalars tab: val/loss and val/loss_causal of every run in one chart, so a run trained
# without the mask shows its leak (the gap between its two curves) at a glance.
MASK_LAYOUT = {
    "mask": {
        "val loss vs val loss with the causal mask forced (a gap = the run looked ahead)": [
            "Multiline",
            [r"^val/loss$", r"^val/loss_causal$"],
        ],
        "train loss": ["Multiline", [r"^train/loss$"]],
    }
}


def attention_figure(weights: torch.Tensor, tokens: list[str], title: str) -> Figure:
    """A matplotlib Figure of (heads, T, T) attention weights: rows are queries, columns are keys.

    A causal layer shows an empty upper triangle: no token attends to a later one.
    """
    from matplotlib.figure import Figure  # imported here: matplotlib is not needed to start training

    num_heads = weights.shape[0]
    size = 0.4 * len(tokens) + 1.6  # room for the rotated token labels under each map
    fig = Figure(figsize=(size * num_heads + 1.2, size + 1.8), layout="constrained")
    axes = fig.subplots(1, num_heads, squeeze=False)[0]
    for head, ax in enumerate(axes):
        image = ax.imshow(weights[head].float().cpu().numpy(), vmin=0.0, vmax=1.0, cmap="viridis")
        ax.set_title(f"head {head}", fontsize=8)
        ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=7)
        ax.set_yticks(range(len(tokens)), tokens if head == 0 else [], fontsize=7)
    fig.supxlabel("key (the token attended to)", fontsize=8)
    axes[0].set_ylabel("query (the token attending)", fontsize=8)
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="attention weight")
    fig.suptitle(title, fontsize=9)
    return fig


class HeatmapFigure:
    """Renders attention heatmaps of a fixed prompt and head count into (H, W, 3) uint8 images, fast.

    The tokens, axes and labels never change between layers and epochs, only the weights and the title.
    So the figure is built and laid out once, everything but the maps and the title is rendered once as a
    background, and each image after that restores the background and draws only the maps, their frames
    and the title (matplotlib's blitting). Text is most of the cost of drawing a heatmap figure, and the
    labels are drawn only once.
    """

    def __init__(self, weights: torch.Tensor, tokens: list[str], title: str) -> None:
        """`title` is laid out as the first one; later titles should have as many lines."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        self.figure = attention_figure(weights, tokens, title)
        self.canvas = FigureCanvasAgg(self.figure)
        self.title = next(text for text in self.figure.texts if text.get_text() == title)
        self.axes = [ax for ax in self.figure.axes if ax.images]  # one per head; the colorbar has none
        self.images = [ax.images[0] for ax in self.axes]
        self.canvas.draw()  # runs the layout once ...
        self.figure.set_layout_engine("none")  # ... and keeps its positions from now on
        for artist in [*self.images, self.title]:
            artist.set_visible(False)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(self.figure.bbox)
        for artist in [*self.images, self.title]:
            artist.set_visible(True)

    def render(self, weights: torch.Tensor, title: str) -> np.ndarray:
        """The figure for (heads, T, T) `weights` under `title`, as an (H, W, 3) uint8 numpy array."""
        self.canvas.restore_region(self.background)
        for ax, image, head_weights in zip(self.axes, self.images, weights, strict=True):
            image.set_data(head_weights.float().cpu().numpy())
            self.figure.draw_artist(image)
            for spine in ax.spines.values():  # the frame, which the map covers by half a line
                self.figure.draw_artist(spine)
        self.title.set_text(title)
        self.figure.draw_artist(self.title)
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()


def heatmap_title(hparams: dict[str, Any], layer: int, epoch: int, step: int) -> str:
    """E.g. "mha · causal mask on · dropout 0.1 · layer 0 · epoch 3 (step 120)"."""
    mask = {True: "causal mask on", False: "causal mask OFF"}.get(hparams.get("causal"), "mask ?")
    return (
        f"{hparams.get('variant', '?')} · {mask} · dropout {hparams.get('dropout', '?')}\n"
        f"layer {layer} · epoch {epoch} (step {step})"
    )


def show_in_hparams_table(experiment_summary: Summary) -> None:
    """Edit torch's HParams experiment summary in place: SHOWN_HPARAMS marked as differing, metrics titled.

    The HParams table shows a setting without ticking it only when `differs` is set; torch's hparams()
    leaves it unset, and an inferred experiment sets it only for values that differ across the runs.
    """
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    plugin_data = experiment_summary.value[0].metadata.plugin_data
    content = HParamsPluginData.FromString(plugin_data.content)
    for info in content.experiment.hparam_infos:
        info.differs = info.name in SHOWN_HPARAMS
    for info in content.experiment.metric_infos:
        info.display_name = HPARAM_METRICS[info.name.tag]
    plugin_data.content = content.SerializeToString()


class TensorBoardLogger(LightningTensorBoardLogger):
    """Lightning's TensorBoardLogger without the `epoch` scalar Lightning adds to every log call.

    Time Series sorts its groups by name and `epoch` would open the page; without it the page opens on the
    losses: hp_metric (best val loss), hparams/ (last val loss, its causal-mask twin, train loss, gap),
    then train/ and val/; the heatmaps (val_attention/) come last. The x-axis (step) already orders epochs.
    """

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        super().log_metrics({k: v for k, v in metrics.items() if k != "epoch"}, step)


class TensorBoardExtras(L.Callback):
    """Registers the run in the HParams tab with `hparams` (the settings a learner compares runs by) and the
    mask chart in Custom Scalars; after a validation logs a greedy sample of `sample_tokens` tokens (0 =
    none) and, with `attention_maps`, the attention heatmaps.

    Cadence of the sample and heatmaps: after the first epoch, then every `every_n_epochs` epochs while one
    more call and the last epoch's call keep their time within `max_time_share` of the fit's wall time so
    far (null = no cap), and always after the last epoch.
    Only on rank zero, only with a TensorBoardLogger."""

    def __init__(
        self,
        hparams: dict[str, Any],
        sample_tokens: int = 25,
        attention_maps: bool = True,
        every_n_epochs: int = 1,
        max_time_share: float | None = 0.05,
    ) -> None:
        self.hparams, self.sample_tokens, self.attention_maps = dict(hparams), sample_tokens, attention_maps
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
        from torch.utils.tensorboard.summary import hparams

        self.fit_started, self.extras_seconds, self.last_call_seconds = time.perf_counter(), 0.0, 0.0
        writer = self.writer(trainer)
        if writer is None or trainer.ckpt_path is not None:  # fit_start comes before the restore: step 0
            return
        trainer.logger.hparams.update(self.hparams)  # also saved as hparams.yaml beside the events
        # torch's hparams() would store a bool as the number 1.0/0.0: the tab shows "true"/"false".
        shown = {k: str(v).lower() if isinstance(v, bool) else v for k, v in self.hparams.items()}
        # Declares the metric tags without placeholder values: the tab shows the scalars logged under them.
        summaries = hparams(shown, dict.fromkeys(HPARAM_METRICS, 0.0))
        show_in_hparams_table(summaries[0])
        for summary in summaries:
            writer.file_writer.add_summary(summary)
        writer.add_custom_scalars(MASK_LAYOUT)

    def is_due(self, trainer: L.Trainer) -> bool:
        """Whether the sample and heatmaps are logged after this validation (see the class docstring)."""
        if is_final_epoch(trainer) and (
            trainer.is_last_batch or trainer.should_stop or stopped_by_steps(trainer)
        ):
            return True  # the run's last validation (not one mid-epoch, with trainer.val_check_interval)
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            return False
        # Would the share stay within the cap, counting this call and the one the last epoch will make
        # each as long as the previous call? Holding back the last call's share keeps the whole fit's
        # extras within the cap, not the cap plus one call.
        elapsed = time.perf_counter() - self.fit_started
        spent = self.extras_seconds + 2 * self.last_call_seconds
        return self.max_time_share is None or spent <= self.max_time_share * elapsed

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = self.writer(trainer)
        if writer is None or trainer.sanity_checking or not self.is_due(trainer):
            return
        started = time.perf_counter()
        if self.sample_tokens:
            writer.add_text("samples/every_effort", self.sample(pl_module), trainer.global_step)
        if self.attention_maps:
            self.log_attention_maps(writer, trainer, pl_module)
        self.last_call_seconds = time.perf_counter() - started
        self.extras_seconds += self.last_call_seconds

    def sample(self, pl_module: L.LightningModule) -> str:
        """Greedy continuation of the book's prompt, on one line."""
        from attention_lab.sampling import BOOK_PROMPT, generate, ids_to_text, text_to_ids

        model = pl_module.model
        prompt = text_to_ids(BOOK_PROMPT).to(pl_module.device)
        ids = generate(model, prompt, max_new_tokens=self.sample_tokens, context_length=model.context_length)
        return ids_to_text(ids).replace("\n", " ")

    def log_attention_maps(
        self, writer: SummaryWriter, trainer: L.Trainer, pl_module: L.LightningModule
    ) -> None:
        from attention_lab.sampling import text_to_ids
        from attention_lab.tokenizer import gpt2_tokenizer

        idx = text_to_ids(ATTENTION_PROMPT).to(pl_module.device)
        tokens = [gpt2_tokenizer().decode([t]) for t in idx[0].tolist()]
        for layer, weights in enumerate(pl_module.model.attention_maps(idx)):
            title = heatmap_title(self.hparams, layer, trainer.current_epoch, trainer.global_step)
            if self.heatmap is None:
                self.heatmap = HeatmapFigure(weights, tokens, title)
            image = self.heatmap.render(weights, title)
            writer.add_image(HEATMAP_TAG.format(layer), image, trainer.global_step, dataformats="HWC")
