"""Draw docs/book_ch05.png and print the table of docs/book_ch05.md: an `experiment=book_ch05`
run's book-style evaluations (book/train_loss, book/val_loss) against the book's logs.

python docs/plot_book_ch05.py logs/book_ch05/mha-causal-p0.1-s123/version_0 docs/book_ch05.png
"""

from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

# (step, train loss, val loss) as `train_model_simple` prints them (section 5.2, lr 0.0004): after step+1
# updates, in eval mode, on the first 5 batches of a shuffled training loader and on the validation set.
# The chapter's printed log, "Ep 1 (Step 000000): Train loss 9.781, ...":
BOOK_LOG = [
    (0, 9.781, 9.933), (5, 8.111, 8.339), (10, 6.661, 7.048), (15, 5.961, 6.616), (20, 5.726, 6.600),
    (25, 5.201, 6.348), (30, 4.417, 6.278), (35, 4.069, 6.226), (40, 3.732, 6.160), (45, 2.850, 6.179),
    (50, 2.427, 6.141), (55, 2.104, 6.134), (60, 1.882, 6.233), (65, 1.320, 6.238), (70, 0.985, 6.242),
    (75, 0.717, 6.293), (80, 0.541, 6.393), (85, 0.391, 6.452),
]  # fmt: skip
# Another run of the same code, in an earlier version of the chapter's notebook (another machine):
EARLIER_LOG = [
    (0, 9.817, 9.924), (5, 8.066, 8.332), (10, 6.619, 7.042), (15, 6.046, 6.596), (20, 5.524, 6.508),
    (25, 5.369, 6.378), (30, 4.830, 6.263), (35, 4.586, 6.285), (40, 3.879, 6.130), (45, 3.530, 6.183),
    (50, 2.960, 6.123), (55, 2.832, 6.150), (60, 2.104, 6.133), (65, 1.691, 6.186), (70, 1.391, 6.230),
    (75, 1.059, 6.251), (80, 0.800, 6.278), (85, 0.569, 6.373),
]  # fmt: skip
STEPS_PER_EPOCH = 9  # 18 training windows of 256 tokens, batch 2


def ours(version_dir: str) -> dict[int, tuple[float, float]]:
    events = EventAccumulator(version_dir, size_guidance={"scalars": 0})
    events.Reload()
    train, val = events.Scalars("book/train_loss"), events.Scalars("book/val_loss")
    return {t.step: (t.value, v.value) for t, v in zip(train, val, strict=True)}


def main(version_dir: str, out: str) -> None:
    run = ours(version_dir)
    print("| step | ours: train | book: train | ours: val | book: val |")
    print("|---:|---:|---:|---:|---:|")
    for step, book_train, book_val in BOOK_LOG:
        train, val = run.get(step, (float("nan"), float("nan")))
        print(f"| {step} | {train:.3f} | {book_train:.3f} | {val:.3f} | {book_val:.3f} |")

    def epochs(steps) -> list[float]:  # updates done, in epochs
        return [(step + 1) / STEPS_PER_EPOCH for step in steps]

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for log, style, name in ((BOOK_LOG, "x", "book"), (EARLIER_LOG, ":", "book, earlier notebook run")):
        alpha = 1.0 if log is BOOK_LOG else 0.5
        x = epochs(step for step, _, _ in log)
        ax.plot(x, [t for _, t, _ in log], style, color="black", alpha=alpha, label=f"{name}: train")
        ax.plot(x, [v for _, _, v in log], style, color="grey", alpha=alpha, label=f"{name}: val")
    ax.plot(epochs(run), [t for t, _ in run.values()], "-", color="tab:blue", label="ours: train")
    ax.plot(epochs(run), [v for _, v in run.values()], "-", color="tab:orange", label="ours: val")
    ax.set(xlabel="epoch", ylabel="cross-entropy loss", title="Chapter 5 pretraining on The Verdict")
    ax.set_ylim(0, 11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main(*sys.argv[1:3])
