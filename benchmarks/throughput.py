"""Training throughput on the `small` config: attention-lab's Lightning training next to the book's loop.

    python benchmarks/throughput.py                 # ~3 minutes on 2 idle cores
    python benchmarks/throughput.py --compile       # also time `module.compile=true` (adds its compile time)

Every contender trains the same shape (emb 256, 4 layers, 4 heads, context 128, batch 8, vocab 50,257,
dropout 0.1) on the same The Verdict batches, in this one process. They take turns step by step (round
robin, `--steps` steps each per round), so a change in the machine's load hits all alike; each figure is
the median over `--rounds` rounds, and each ratio the median of the per-round ratios ("best": the ratio
of the fastest rounds, the estimate least disturbed by other jobs on a shared machine).

    book                  llms_from_scratch ch04 GPTModel + the ch05 loop (calc_loss_batch, default AdamW)
    plain loop, opts off  attention-lab's GPTModel in the same plain loop: plain cross-entropy, foreach AdamW
    Lightning, opts off   the same model and settings trained by Lightning (LitGPT + Trainer, as train.py)
    Lightning, default    train.py's defaults: fused AdamW, fused head + cross-entropy
    Lightning, sdpa       the defaults with attention=sdpa

MFU = model FLOPs per token × tokens/s ÷ the fp32 matmul peak measured in each round (2048² matmul).
Model FLOPs per token = 6·N (N = weights used in matmuls, output head included) + 12·layers·context·emb
(attention scores and weighted sums, counted for the full T×T square as in PaLM's appendix B).
Lightning runs with validation, checkpoints and the progress bar off (training speed only) but logs
train/loss to TensorBoard every step, as train.py does.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator

import lightning as L
import torch
from common import interleave, load_average, machine, matmul_peak_gflops, paired_ratio, print_table, save
from hydra import compose, initialize_config_dir

from attention_lab.cli import CONF_DIR  # common has put this checkout's src/ first on sys.path
from attention_lab.data.datamodule import data_module
from attention_lab.settings import TrainSettings, checked
from attention_lab.training.module import LitGPT
from attention_lab.training.runner import build_logger, build_trainer, quiet_lightning_logging

SMALL = ["model=small", "data.batch_size=8", "attention.dropout=0.1"]
OPTS_OFF = ["optimizer.fused=false", "module.fused_loss=false", "module.compile=false"]


def compose_config(*overrides: str) -> TrainSettings:
    log_dir = tempfile.mkdtemp(prefix="attention-lab-bench-")
    quiet = [
        "callbacks.progress_bar=null",
        "callbacks.checkpoints=null",
        "callbacks.throughput=null",
        "trainer.enable_model_summary=false",
    ]
    training_only = ["+trainer.limit_val_batches=0", "trainer.max_epochs=100000"]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            config_name="config",
            overrides=[*SMALL, *quiet, *training_only, f"paths.log_dir={log_dir}", *overrides],
        )
    return checked(TrainSettings, cfg)


def model_flops_per_token(cfg: TrainSettings) -> float:
    m = cfg.model
    matmul_weights = m.n_layers * 12 * m.emb_dim**2 + m.emb_dim * m.vocab_size  # qkvo 4·e², ff 8·e², head
    return 6 * matmul_weights + 12 * m.n_layers * m.context_length * m.emb_dim


def batches(cfg: TrainSettings) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The training batches train.py would see, epoch after epoch."""
    datamodule = data_module(cfg.data)
    datamodule.setup("fit")
    while True:
        yield from datamodule.train_dataloader()


def book_loop(cfg: TrainSettings) -> Callable[[], None]:
    """The book's chapter 5 `train_model_simple` loop body on its chapter 4 GPTModel."""
    from llms_from_scratch.ch04 import GPTModel
    from llms_from_scratch.ch05 import calc_loss_batch

    m = cfg.model
    book_cfg = dict(
        vocab_size=m.vocab_size,
        context_length=m.context_length,
        emb_dim=m.emb_dim,
        n_heads=m.n_heads,
        n_layers=m.n_layers,
        drop_rate=m.drop_rate,
        qkv_bias=False,
    )
    torch.manual_seed(cfg.seed)
    model = GPTModel(book_cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.0004, weight_decay=0.1)  # as chapter 5
    model.train()
    data = batches(cfg)

    def step() -> None:
        input_batch, target_batch = next(data)
        optimizer.zero_grad()
        loss = calc_loss_batch(input_batch, target_batch, model, "cpu")
        loss.backward()
        optimizer.step()

    return step


def plain_loop(cfg: TrainSettings, compute_times: list[float]) -> Callable[[], None]:
    """attention-lab's LitGPT (model, loss, optimizer) in the book's plain loop, without Lightning.
    Appends the seconds of each step's zero_grad + forward + backward + update to `compute_times`."""
    torch.manual_seed(cfg.seed)
    module = LitGPT.of(cfg)
    optimizer = module.configure_optimizers()
    module.train()
    data = batches(cfg)

    def step() -> None:
        inputs, targets = next(data)
        start = time.perf_counter()
        optimizer.zero_grad()
        module.loss(inputs, targets).backward()
        optimizer.step()
        compute_times.append(time.perf_counter() - start)

    return step


class StepGate(L.Callback):
    """Holds a Trainer running in its own thread at each batch start until the benchmark lets it take
    one more step, so Lightning can take turns with the plain loops."""

    def __init__(self) -> None:
        self.go, self.ready = threading.Semaphore(0), threading.Semaphore(0)
        self.stop, self.error = False, None

    def on_train_batch_start(self, trainer: L.Trainer, *args) -> None:
        if not self.stop:
            self.ready.release()
            self.go.acquire()
        trainer.should_stop = self.stop

    def wait_ready(self, thread: threading.Thread) -> None:
        while not self.ready.acquire(timeout=1.0):
            if not thread.is_alive():
                raise RuntimeError("the Lightning run stopped early") from self.error


def lightning_run(
    cfg: TrainSettings, finishers: list[Callable[[], None]], compute_times: list[float] | None = None
) -> Callable[[], None]:
    """train.py's Trainer and LitGPT, fit in a background thread that steps only when told to.

    With `compute_times`, the seconds of each LitGPT.optimizer_step are appended to it: Lightning runs
    zero_grad, training_step, backward and the update inside it, so the rest of a step is Lightning's own.
    """
    L.seed_everything(cfg.seed, verbose=False)
    datamodule = data_module(cfg.data)
    module = LitGPT.of(cfg)
    if compute_times is not None:
        optimizer_step = module.optimizer_step

        def timed_optimizer_step(*args, **kwargs) -> None:
            start = time.perf_counter()
            optimizer_step(*args, **kwargs)
            compute_times.append(time.perf_counter() - start)

        module.optimizer_step = timed_optimizer_step
    gate = StepGate()
    trainer = build_trainer(cfg, build_logger(cfg, None), extra_callbacks=(gate,))

    def fit() -> None:
        try:
            trainer.fit(module, datamodule=datamodule)
        except BaseException as err:  # surfaced by wait_ready in the main thread
            gate.error = err
            raise

    thread = threading.Thread(target=fit, daemon=True)
    thread.start()
    gate.wait_ready(thread)  # set-up done, first batch about to start

    def step() -> None:
        gate.go.release()
        gate.wait_ready(thread)  # the step, its logging and the next batch's loading are done

    def finish() -> None:
        gate.stop = True
        gate.go.release()
        thread.join()

    finishers.append(finish)
    return step


def _outside(step_means: list[float], compute: list[float], steps: list[int]) -> float:
    """Median over rounds of (mean step time − mean compute time) in that round."""
    out, i = [], 0
    for mean, n in zip(step_means, steps, strict=True):
        out.append(mean - sum(compute[i : i + n]) / n)
        i += n
    return statistics.median(out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--steps", type=int, default=2, help="steps per contender per round (default 2)")
    parser.add_argument("--compile", action="store_true", help="also time Lightning with compile=true")
    args = parser.parse_args()

    load_before = load_average()
    quiet_lightning_logging()
    finishers: list[Callable[[], None]] = []
    off = compose_config(*OPTS_OFF)
    plain_compute: list[float] = []
    lightning_compute: list[float] = []
    contenders = {
        "book: ch04 GPTModel + ch05 loop": book_loop(off),
        "plain loop, opts off": plain_loop(off, plain_compute),
        "Lightning, opts off": lightning_run(off, finishers, lightning_compute),
        "Lightning, default (mha)": lightning_run(compose_config(), finishers),
        "Lightning, sdpa": lightning_run(compose_config("attention=sdpa"), finishers),
    }
    if args.compile:
        contenders["Lightning, sdpa + compile"] = lightning_run(
            compose_config("attention=sdpa", "module.compile=true"), finishers
        )
    contenders["matmul peak (2048², fp32)"] = matmul_peak_gflops

    print(f"warm-up, then {args.rounds} rounds × {args.steps} steps each (load average {load_before})")
    interleave(contenders, rounds=1, repeats=args.steps)  # allocations, compilation
    plain_compute.clear(), lightning_compute.clear()
    peaks: list[float] = []
    contenders["matmul peak (2048², fp32)"] = lambda: peaks.append(matmul_peak_gflops())
    times = interleave(contenders, rounds=args.rounds, repeats=args.steps)
    for finish in finishers:
        finish()
    times.pop("matmul peak (2048², fp32)")
    round_peaks = [max(peaks[i * args.steps : (i + 1) * args.steps]) for i in range(args.rounds)]

    tokens_per_step = off.data.batch_size * off.model.context_length
    flops_per_token = model_flops_per_token(off)
    book = times["book: ch04 GPTModel + ch05 loop"]
    plain_off = times["plain loop, opts off"]
    results = []
    for name, seconds in times.items():
        mfu = [
            tokens_per_step / s * flops_per_token / (p * 1e9)
            for s, p in zip(seconds, round_peaks, strict=True)
        ]
        results.append(
            {
                "name": name,
                "step_s": statistics.median(seconds),
                "tokens_per_s": tokens_per_step / statistics.median(seconds),
                "mfu": statistics.median(mfu),
                "speedup_vs_book": paired_ratio(book, seconds),
                "best_step_s": min(seconds),
                "best_speedup_vs_book": min(book) / min(seconds),
                "speedup_vs_plain_opts_off": paired_ratio(plain_off, seconds),
                "round_step_s": seconds,
            }
        )
    print_table(
        ["contender", "step ms", "tokens/s", "MFU", "× book", "× plain loop (opts off)", "best: × book"],
        [
            [
                r["name"],
                f"{r['step_s'] * 1e3:.0f}",
                f"{r['tokens_per_s']:.0f}",
                f"{r['mfu']:.0%}",
                f"{r['speedup_vs_book']:.2f}",
                f"{r['speedup_vs_plain_opts_off']:.3f}",
                f"{r['best_speedup_vs_book']:.2f}",
            ]
            for r in results
        ],
    )
    lightning_overhead = 1 / paired_ratio(plain_off, times["Lightning, opts off"]) - 1
    # The same, measured inside each step and so immune to the load changing between contenders: time
    # outside zero_grad/forward/backward/update, Lightning's minus the plain loop's, per plain-loop step.
    steps_per_round = [args.steps] * args.rounds
    plain_outside = _outside(plain_off, plain_compute, steps_per_round)
    lightning_outside = _outside(times["Lightning, opts off"], lightning_compute, steps_per_round)
    own_time = (lightning_outside - plain_outside) / statistics.median(plain_off)
    print(
        f"matmul peak {statistics.median(round_peaks):.0f} GFLOP/s (median of rounds); model "
        f"{flops_per_token / 1e6:.1f} MFLOP/token; load average {load_before} → {load_average()}\n"
        f"Lightning vs plain loop, opts off: {lightning_overhead:+.1%} per step side by side; time outside "
        f"zero_grad/forward/backward/update {lightning_outside * 1e3:.0f} ms vs {plain_outside * 1e3:.0f} ms "
        f"per step, so Lightning's own time is {own_time:+.1%} of a step"
    )
    path = save(
        "throughput",
        {
            "benchmark": "training throughput, small config",
            "args": vars(args),
            "machine": machine() | {"load_average_before": load_before},
            "tokens_per_step": tokens_per_step,
            "model_flops_per_token": flops_per_token,
            "matmul_peak_gflops_per_round": round_peaks,
            "lightning_overhead_opts_off_side_by_side": lightning_overhead,
            "outside_compute_s_per_step": {"plain": plain_outside, "lightning": lightning_outside},
            "lightning_own_time_fraction": own_time,
            "results": results,
        },
    )
    print(f"results: {path}")


if __name__ == "__main__":
    main()
