"""The settings of conf/trainer (Lightning's Trainer) and conf/callbacks, as tables of attention_lab.checks.

Lightning's own names (precisions, accelerators, strategies) are spelled out here or asked of the
installed Lightning when a value is checked; a test compares them with the installed Lightning.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from attention_lab import rules as r
from attention_lab.errors import ConfigError
from attention_lab.rules import FreeForm, Rule, Table

# lightning.fabric.connector._PRECISION_INPUT and the accelerator registry's names.
PRECISIONS = ("64-true", "32-true", "16-true", "bf16-true", "16-mixed", "bf16-mixed", "transformer-engine",
              "transformer-engine-float16", 64, 32, 16, "64", "32", "16", "bf16")  # fmt: skip
ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "tpu", "auto")
METRICS = ("val/loss", "val/loss_causal", "val/ppl", "train/loss", "hp_metric", "hparams/val_loss")


def _devices_ok(v: object) -> bool:
    if isinstance(v, str):
        return v == "auto" or all(part.strip().isdigit() for part in v.split(",") if part.strip()) and bool(v)
    if isinstance(v, (list, tuple)) or OmegaConf.is_list(v):
        return len(v) > 0 and all(r.is_int(i) and i >= 0 for i in v)
    return r.is_int(v) and (v >= 1 or v == -1)


def _strategy_ok(v: object) -> bool:
    from lightning.pytorch.strategies import StrategyRegistry

    return v == "auto" or (isinstance(v, str) and v in StrategyRegistry.available_strategies())


def _batches(meaning: str) -> Rule:
    share = r.number(0, low_open=False, high=1.0, high_open=False, meaning=meaning)
    return r.null_or(r.either(r.whole(0, meaning="batches"), share))


def _set_by_train(what: str) -> Rule:
    return Rule(f"left unset: train.py sets it from {what}", lambda v: False, True)


TRAINER: Table = {
    "trainer._target_": r.importable("lightning.Trainer"),
    "trainer.accelerator": r.choice(ACCELERATORS, "where the model trains"),
    "trainer.devices": Rule(
        "a whole number >= 1, -1 (all), auto, or a list of device indices (processes or GPUs to train on)",
        _devices_ok,
        0,
    ),
    "trainer.strategy": Rule(
        "auto or a strategy of Lightning's StrategyRegistry, e.g. ddp, ddp_spawn, fsdp "
        "(how devices share work)",
        _strategy_ok,
        "nonsense",
        imports=True,
    ),
    "trainer.num_nodes": r.whole(1, meaning="machines"),
    "trainer.precision": r.choice(PRECISIONS, "Lightning's precision of weights and matmuls"),
    "trainer.max_epochs": r.null_or(r.whole(-1, meaning="epochs to train; -1 = no limit")),
    "trainer.min_epochs": r.null_or(r.whole(0, meaning="epochs to train at least")),
    "trainer.max_steps": r.whole(-1, meaning="optimizer steps to train; -1 = no limit"),
    "trainer.min_steps": r.null_or(r.whole(0, meaning="optimizer steps to train at least")),
    "trainer.limit_train_batches": _batches("a share of the training batches per epoch"),
    "trainer.limit_val_batches": _batches("a share of the validation batches"),
    "trainer.limit_test_batches": _batches("a share of the test batches"),
    "trainer.limit_predict_batches": _batches("a share of the predict batches"),
    "trainer.overfit_batches": _batches("a share of the training batches, trained again and again"),
    "trainer.fast_dev_run": r.either(r.boolean("one batch of each"), r.whole(0, meaning="batches of each")),
    "trainer.gradient_clip_val": r.null_or(r.number(0, low_open=False, meaning="largest gradient norm")),
    "trainer.gradient_clip_algorithm": r.null_or(r.choice(("norm", "value"), "how gradients are clipped")),
    "trainer.log_every_n_steps": r.whole(1, meaning="optimizer steps between logged training losses"),
    "trainer.num_sanity_val_steps": r.whole(-1, meaning="validation batches before training; -1 = all"),
    "trainer.val_check_interval": r.null_or(
        r.either(
            r.whole(1, meaning="training batches"),
            r.number(0, low_open=True, high=1.0, high_open=False, meaning="a share of an epoch"),
        )
    ),  # fmt: skip
    "trainer.check_val_every_n_epoch": r.null_or(r.whole(1, meaning="epochs between validations")),
    "trainer.accumulate_grad_batches": r.whole(1, meaning="batches per optimizer step"),
    "trainer.enable_model_summary": r.boolean("print the layer table at the start"),
    "trainer.deterministic": r.null_or(
        r.either(r.boolean("deterministic kernels"), r.choice(("warn",), "warn"))
    ),
    "trainer.benchmark": r.null_or(r.boolean("cudnn autotuning")),
    "trainer.default_root_dir": r.null_or(r.directory_path("Lightning's own output directory")),
    "trainer.enable_progress_bar": _set_by_train("callbacks.progress_bar (null switches the bar off)"),
    "trainer.enable_checkpointing": _set_by_train("callbacks.checkpoints (null switches checkpoints off)"),
    "trainer.logger": _set_by_train("the logger group"),
    "trainer.callbacks": _set_by_train("the callbacks group"),
}

CALLBACKS: Table = {
    "callbacks.*": Rule("null (switched off) or a callback entry with a _target_", lambda v: v is None, 1),
    "callbacks.*._target_": r.importable("the callback's class"),
    "callbacks.checkpoints.every_minutes": r.number(
        0, low_open=False, meaning="minutes between last.ckpt writes at epoch ends; 0 = every epoch"
    ),
    "callbacks.checkpoints.save_best": r.boolean("also keep best.ckpt, the weights with the lowest val loss"),
    "callbacks.checkpoints.monitor": r.choice(METRICS, "the metric that picks best.ckpt (lower is better)"),
    "callbacks.throughput.window_size": r.whole(1, meaning="optimizer steps averaged per tokens/s reading"),
    "callbacks.throughput.peak_flops": r.null_or(
        r.either(r.choice(("measure",), "time a matmul"), r.number(0, low_open=True, meaning="FLOP/s"))
    ),
    "callbacks.tensorboard_extras.sample_tokens": r.whole(0, meaning="greedy tokens sampled per validation"),
    "callbacks.tensorboard_extras.attention_maps": r.boolean("log attention heatmaps"),
    "callbacks.tensorboard_extras.every_n_epochs": r.whole(1, meaning="epochs between samples and heatmaps"),
    "callbacks.tensorboard_extras.max_time_share": r.null_or(
        r.fraction(allow_zero=False, meaning="the most of the run's time samples and heatmaps may take")
    ),
    "callbacks.tensorboard_extras.hparams.*": FreeForm(
        "labels of the run's HParams row, copies of settings checked under their own names"
    ),
    "callbacks.lr_monitor.logging_interval": r.null_or(
        r.choice(("step", "epoch"), "when the rate is logged")
    ),
    "callbacks.lr_monitor.log_momentum": r.boolean("also log the momentum"),
    "callbacks.book_eval.every_n_steps": r.whole(1, meaning="optimizer steps between evaluations"),
    "callbacks.book_eval.num_batches": r.whole(1, meaning="batches of each split per evaluation"),
    "callbacks.book_eval.label": r.text(
        "the word before the step number: Step (chapter 5) or Iter (Appendix D)"
    ),
}


def check_schedule_has_an_end(cfg: DictConfig) -> None:
    """Appendix D's schedule (optimizer.warmup_steps, optimizer.min_lr) is laid out over the run's steps."""
    optimizer, trainer = cfg.optimizer, cfg.trainer
    scheduled = [
        f"optimizer.{key}={optimizer[key]}"
        for key in ("warmup_steps", "min_lr")
        if key in optimizer and optimizer[key] not in (None, 0)
    ]
    if scheduled and trainer.get("max_epochs") == -1 and trainer.get("max_steps", -1) == -1:
        raise ConfigError(
            f"trainer.max_epochs=-1 is not allowed with {' and '.join(scheduled)}: the learning-rate "
            "schedule is spread over the run's steps, so the run needs an end; set trainer.max_epochs >= 1 "
            "or trainer.max_steps >= 1"
        )


def check_accelerator_present(cfg: DictConfig) -> None:
    """trainer.accelerator=gpu (cuda) or mps needs that device on this machine."""
    import torch

    accelerator = cfg.trainer.get("accelerator")
    present = {
        "gpu": torch.cuda.is_available,
        "cuda": torch.cuda.is_available,
        "mps": torch.backends.mps.is_available,
    }
    if accelerator in present and not present[accelerator]():
        raise ConfigError(
            f"trainer.accelerator={accelerator} is not allowed on this machine: torch finds no such device; "
            "train on the CPU with trainer=cpu (or trainer.accelerator=cpu), or auto to use one when present"
        )
