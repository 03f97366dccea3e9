"""Draw docs/book_ch05.png: our `experiment=book_ch05` run against the losses printed in the book.

python docs/plot_book_ch05.py logs/book_ch05/mha-causal_True-drop_0.1/version_0 docs/book_ch05.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

# The book's chapter 5 log (section 5.2, lr 0.0004): (global step, train loss, val loss), evaluated every
# 5 steps in eval mode on the first 5 training batches and on the whole validation set.
BOOK_LOG = [
    (0, 9.817, 9.924), (5, 8.066, 8.332), (10, 6.619, 7.042), (15, 6.046, 6.596), (20, 5.524, 6.508),
    (25, 5.369, 6.378), (30, 4.830, 6.263), (35, 4.586, 6.285), (40, 3.879, 6.130), (45, 3.530, 6.183),
    (50, 2.960, 6.123), (55, 2.832, 6.150), (60, 2.104, 6.133), (65, 1.691, 6.186), (70, 1.391, 6.230),
    (75, 1.059, 6.251), (80, 0.800, 6.278), (85, 0.569, 6.373),
]  # fmt: skip
STEPS_PER_EPOCH = 9  # 18 training windows of 256 tokens, batch 2


def main(version_dir: str, out: str) -> None:
    events = EventAccumulator(version_dir, size_guidance={"scalars": 0})
    events.Reload()

    def series(tag: str) -> tuple[list[float], list[float]]:
        # x = optimizer updates done, in epochs: a step-k train loss is measured before update k+1,
        # epoch-end values after the epoch's last update.
        points = events.Scalars(tag)
        offset = 0 if tag == "train/loss" else 1
        return [(p.step + offset) / STEPS_PER_EPOCH for p in points], [p.value for p in points]

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot(*series("train/loss"), color="tab:blue", alpha=0.35, lw=1, label="ours: train loss per step")
    ax.plot(*series("hparams/train_loss"), "o-", color="tab:blue", label="ours: train loss, epoch mean")
    ax.plot(*series("val/loss"), "s-", color="tab:orange", label="ours: val loss, each epoch")
    book_x = [(step + 1) / STEPS_PER_EPOCH for step, _, _ in BOOK_LOG]
    ax.plot(book_x, [t for _, t, _ in BOOK_LOG], "--", color="tab:blue", label="book: train loss (5 batches)")
    ax.plot(book_x, [v for _, _, v in BOOK_LOG], "--", color="tab:orange", label="book: val loss")
    ax.set(xlabel="epoch", ylabel="cross-entropy loss", title="Chapter 5 pretraining on The Verdict")
    ax.set_ylim(0, 11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)


def eval_mode_losses(version_dir: str) -> dict[str, float]:
    """Mean loss of last.ckpt's model without dropout over all train windows, the first 5 training batches
    in order (the book's eval_iter=5; it takes them from a shuffled loader) and the validation windows."""
    import torch
    import torch.nn.functional as F
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from attention_lab.generate import load_model

    model = load_model(Path(version_dir) / "checkpoints" / "last.ckpt")
    data = instantiate(OmegaConf.load(Path(version_dir) / "config.yaml").data)
    data.setup("fit")

    @torch.no_grad()
    def mean_loss(dataset, n: int | None = None) -> float:
        pairs = [dataset[i] for i in range(len(dataset) if n is None else n)]
        inputs, targets = torch.stack([x for x, _ in pairs]), torch.stack([y for _, y in pairs])
        return F.cross_entropy(model(inputs).flatten(0, 1), targets.flatten()).item()

    return {
        "train, all windows": mean_loss(data.train_set),
        "train, first 10 windows": mean_loss(data.train_set, 10),
        "val": mean_loss(data.val_set),
    }


if __name__ == "__main__":
    main(*sys.argv[1:3])
    for name, value in eval_mode_losses(sys.argv[1]).items():
        print(f"eval-mode loss, {name}: {value:.3f}")
