"""The book's chapter 5 training run, as a reader types it in: chapter 2's data loaders, chapter 4's GPTModel,
chapter 5's train_model_simple (a loss on a few batches every 5 steps, a sample after every epoch), AdamW.

    python benchmarks/book_ch05.py [--epochs 10] [--emb-dim 256 --n-layers 4 --n-heads 4 --context 128]

The defaults are attention-lab's `model=small`. The only change to the book's code: tiktoken's GPT-2
encoding comes from attention_lab.data.tokenizer (the same ids, without a download). For
benchmarks/end_to_end.py it prints `TIMING <json>` at the end: wall-clock stamps and the seconds spent in
evaluation and samples.
"""

import time

STARTED = time.time()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import tiktoken  # noqa: E402
import torch  # noqa: E402
from llms_from_scratch import ch05  # noqa: E402
from llms_from_scratch.ch02 import create_dataloader_v1  # noqa: E402
from llms_from_scratch.ch04 import GPTModel  # noqa: E402

from attention_lab.data.tokenizer import gpt2_tokenizer  # noqa: E402

tiktoken.get_encoding = lambda name: gpt2_tokenizer()  # chapter 2's loader asks tiktoken for "gpt2"


class Stopwatch:
    """Seconds spent inside a function of the chapter 5 module (train_model_simple looks them up there)."""

    def __init__(self, name: str):
        self.seconds, self.original = 0.0, getattr(ch05, name)
        setattr(ch05, name, self)

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.original(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--emb-dim", type=int, default=256)
    parser.add_argument("--n-layers", type=int, default=4)
    parser.add_argument("--n-heads", type=int, default=4)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    config = {
        "vocab_size": 50257, "context_length": args.context, "emb_dim": args.emb_dim,
        "n_heads": args.n_heads, "n_layers": args.n_layers, "drop_rate": 0.1, "qkv_bias": False,
    }  # fmt: skip
    torch.manual_seed(123)
    text = (ROOT / "data" / "the-verdict.txt").read_text(encoding="utf-8")
    split = int(0.9 * len(text))
    loader = dict(batch_size=args.batch_size, max_length=args.context, stride=args.context, num_workers=0)
    train_loader = create_dataloader_v1(text[:split], drop_last=True, shuffle=True, **loader)
    val_loader = create_dataloader_v1(text[split:], drop_last=False, shuffle=False, **loader)
    model = GPTModel(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=4e-4, weight_decay=0.1)
    evaluation, samples = Stopwatch("evaluate_model"), Stopwatch("generate_and_print_sample")
    training_started = time.time()
    train_losses, _, tokens_seen = ch05.train_model_simple(
        model, train_loader, val_loader, optimizer, torch.device("cpu"), num_epochs=args.epochs,
        eval_freq=5, eval_iter=5, start_context="Every effort moves you", tokenizer=gpt2_tokenizer(),
    )  # fmt: skip
    timing = {
        "started": STARTED,
        "training_started": training_started,
        "finished": time.time(),
        "steps": args.epochs * len(train_loader),
        "tokens_per_step": args.batch_size * args.context,
        "evaluation_s": evaluation.seconds,
        "samples_s": samples.seconds,
    }
    print("TIMING " + json.dumps(timing), flush=True)


if __name__ == "__main__":
    main()
