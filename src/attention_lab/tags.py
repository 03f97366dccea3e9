"""The TensorBoard tags a run writes and the report reads, named once.

Time Series sorts cards by tag, so the groups read: train/, val/ (the experiment's losses), val_attention/
(where attention looks, the heatmaps), val_loss_by_position/, val_summary/ (what the HParams tab shows
beside val/loss and val/loss_causal), validate/ (Lightning's throughput of validation).
"""

from dataclasses import dataclass

TRAIN_LOSS = "train/loss"  # every step
TOKENS_SEEN = "train/tokens_seen"
TRAIN_SECONDS = "train/seconds"  # seconds spent in training steps, across a resume (LitGPT)
TOKENS_PER_SEC = "train/device/items_per_sec"  # Lightning's ThroughputMonitor (our items are tokens)
FLOPS_PER_SEC = "train/device/flops_per_sec"
MFU = "train/device/mfu"  # model FLOPs utilisation, against the device's peak
VAL_LOSS = "val/loss"
VAL_PPL = "val/ppl"
VAL_LOSS_CAUSAL = "val/loss_causal"  # the validation loss with the causal mask forced on
VAL_ACCURACY = "val/accuracy"  # the share of scored targets predicted right (recall: questions answered)
BEST_VAL_LOSS = "val_summary/loss_best"
EPOCH_TRAIN_LOSS = "val_summary/train_loss"  # the mean train loss of the epoch, at each validation
GAP = "val_summary/gap"  # val/loss − val_summary/train_loss
FOCUS = "val_attention/{}/layer_{}"  # where attention looks (a FOCUS_KINDS name), per layer
HEATMAP = "val_attention/layer_{}"
POSITION = "val_loss_by_position/position_{}"  # the val loss at position p of the window
POSITION_CURVE = "val_loss_by_position/curve"  # all positions, as an image
SAMPLE_GREEDY = "samples/greedy"  # the continuation of the data's prompt, greedy
SAMPLE_TOP_K = "samples/top_k"  # and sampled, with a temperature among the top-k tokens
BOOK_TRAIN_LOSS = "book/train_loss"  # callbacks=book: the book's evaluate_model
BOOK_VAL_LOSS = "book/val_loss"


@dataclass(frozen=True)
class Focus:
    """A kind of where attention looks: the mean weight a query puts on the key `offset` tokens from itself
    (None: on the first token of the window), logged as FOCUS.format(name, layer) and shown as `label`."""

    name: str
    offset: int | None
    label: str


FOCUS_KINDS = (
    Focus("next_token", 1, "next token"),  # the token it must predict: 0 under the mask, the leak without it
    Focus("self", 0, "itself"),
    Focus("previous_token", -1, "previous token"),
    Focus("first_token", None, "first token"),
)
NEXT_TOKEN = FOCUS_KINDS[0].name
