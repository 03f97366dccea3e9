"""trainer.precision=auto: bf16-mixed where the device multiplies bf16 in hardware, fp32 elsewhere (the choice
simulated for other machines); a bf16 run's loss beside fp32's, and a bf16 run's extras, checkpoint and
generation."""

from __future__ import annotations

import pytest
import torch
from lightning.pytorch.accelerators import AcceleratorRegistry

from attention_lab import hardware, tags
from attention_lab.errors import ConfigError
from attention_lab.hardware import automatic_precision
from attention_lab.model.generation import generate, prompt_ids
from attention_lab.run_record import RunAxes
from attention_lab.settings import TrainSettings, checked
from attention_lab.training.checkpoints import model_from_checkpoint
from attention_lab.training.run_folder import Run
from tests.helpers import MICRO, compose_config, scalars, train


@pytest.mark.parametrize(
    ("flags", "chosen"),
    [({"avx2", "amx_bf16"}, "bf16-mixed"), ({"avx512f", "avx512_bf16"}, "bf16-mixed"),
     ({"avx2", "fma"}, "32-true"), (set(), "32-true")],  # AVX2 only; flags unknown (an Apple CPU)
)  # fmt: skip
def test_auto_takes_bf16_only_on_a_cpu_with_bf16_matrix_instructions(flags, chosen, monkeypatch) -> None:
    monkeypatch.setattr(hardware, "cpu_flags", lambda: flags)
    assert automatic_precision("cpu")[0] == chosen
    settings = checked(TrainSettings, compose_config("trainer.precision=auto"))
    assert settings.trainer.precision == chosen  # the run's settings (its config.yaml) hold the choice
    assert settings.trainer.precision_chosen_because.startswith("this CPU")
    assert checked(TrainSettings, compose_config("trainer.precision=32-true")).trainer.precision == "32-true"


@pytest.mark.parametrize(("supported", "chosen"), [(True, "bf16-mixed"), (False, "32-true")])
def test_auto_on_a_gpu_asks_whether_it_supports_bf16(supported, chosen, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda **_: supported)
    assert automatic_precision("gpu")[0] == automatic_precision("auto")[0] == chosen
    monkeypatch.setattr(hardware, "cpu_flags", lambda: set())
    assert automatic_precision("cpu")[0] == "32-true"  # trainer.accelerator=cpu on a machine with a GPU


def test_the_accelerators_the_settings_take_are_lightnings() -> None:
    assert set(hardware.ACCELERATORS) == AcceleratorRegistry.available_accelerators() | {"auto", "gpu"}
    with pytest.raises(ConfigError, match="accelerator=quantum is not allowed: it must be one of auto, cpu"):
        checked(TrainSettings, compose_config("trainer.accelerator=quantum"))


def test_the_precision_is_an_axis_of_the_run() -> None:
    fp32 = checked(TrainSettings, compose_config("trainer.precision=32-true"))
    bf16 = checked(TrainSettings, compose_config("trainer.precision=bf16-mixed"))
    assert (RunAxes.read(fp32).precision, RunAxes.read(bf16).precision) == ("32-true", "bf16-mixed")
    assert RunAxes.read(fp32).run_name == RunAxes.read(bf16).run_name  # in the HParams row, not the name


@pytest.mark.slow
def test_a_bf16_run_learns_as_fp32_does_and_its_extras_checkpoint_and_generation_work(tmp_path) -> None:
    """The same 12 steps in fp32 and in bf16-mixed: the train losses stay within 0.05 nats of each other at
    every step (bf16 keeps 8 bits of mantissa in its products; the weights and the loss stay float32),
    and the bf16 run's leak probe, attention measures, heatmaps, samples, checkpoint and cached generation
    work."""
    losses = {}
    for precision in ("32-true", "bf16-mixed"):
        cfg = compose_config(*MICRO, "trainer.limit_train_batches=12", "attention.dropout=0.0",
                             "callbacks.tensorboard_extras.attention_maps=true",
                             f"trainer.precision={precision}", log_dir=tmp_path / precision)  # fmt: skip
        version_dir = train(cfg)["version_dir"]
        losses[precision] = scalars(version_dir, tags.TRAIN_LOSS)[tags.TRAIN_LOSS]
    fp32, bf16 = losses["32-true"], losses["bf16-mixed"]
    assert fp32.keys() == bf16.keys() and len(fp32) == 12
    assert max(abs(fp32[step] - bf16[step]) for step in fp32) < 0.05
    run = Run.load(version_dir)
    assert run.settings.trainer.precision == "bf16-mixed"
    logged = scalars(version_dir, ("val/", "val_attention/"))
    assert tags.FOCUS.format(tags.NEXT_TOKEN, 0) in logged and tags.VAL_LOSS_CAUSAL in logged
    model = model_from_checkpoint(run.checkpoint())
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the checkpoint holds float32
    ids = prompt_ids(model, model.prompt)
    cached, uncached = (generate(model, ids, 5, model.context_length, use_cache=use) for use in (True, False))
    assert torch.equal(cached, uncached)
