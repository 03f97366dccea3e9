"""Scale out with Lightning's and Hydra's own machinery: DDP on CPU (gloo) and a joblib-launched sweep.

Both run `python train.py` in a subprocess, as a user would: Lightning's DDP launcher re-executes the
script for each extra process, and Hydra's joblib launcher runs each sweep job in a worker process.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers import FAST, TWO_BATCHES, compose_config, run_train_script, scalars

QUICK = [*FAST, *TWO_BATCHES]  # two training batches per process, one validation batch


def train_py(*overrides: str) -> subprocess.CompletedProcess:
    # One thread per process: two processes on two cores.
    result = run_train_script(*overrides, timeout=600, OMP_NUM_THREADS="1")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_trains_and_logs_once(tmp_path):
    result = train_py("trainer=ddp", *QUICK, f"paths.log_dir={tmp_path}")
    runs = list((tmp_path / "tiny").iterdir())
    assert [p.name for p in runs] == ["mha-causal-p0.1-s123"]
    versions = list(runs[0].iterdir())
    assert [p.name for p in versions] == ["version_0"], "every process must log into rank zero's version"
    version = versions[0]
    assert len(list(version.glob("events.out.tfevents.*"))) == 1
    assert (version / "config.yaml").is_file() and (version / "hparams.yaml").is_file()

    logged = scalars(version, ("train/", "val/"))
    assert list(logged["train/loss"]) == [0, 1]  # each step once, not once per process
    assert len(logged["val/loss"]) == 1
    # tokens_seen counts both processes' batches: 2 steps × 2 processes × batch 8 × 64 tokens.
    assert logged["train/tokens_seen"][1] == 2 * 2 * 8 * 64
    output = result.stdout + result.stderr
    assert output.count("train loss ") == 1, "the end-of-run summary is printed by rank zero only"


@pytest.mark.slow
def test_joblib_launcher_runs_a_two_job_sweep(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="pip install -e '.[dev]'")
    train_py("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "attention=mha,causal", *QUICK,
             f"paths.log_dir={tmp_path}")  # fmt: skip
    for variant in ("mha", "causal"):
        version = tmp_path / "tiny" / f"{variant}-causal-p0.1-s123" / "version_0"
        assert len(scalars(version, "val/loss")["val/loss"]) == 1, variant
    (multirun,) = tmp_path.glob("hydra/tiny/multirun_*/multirun.yaml")
    assert "JoblibLauncher" in multirun.read_text()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["trainer=ddp"], {"trainer.strategy": "ddp", "trainer.devices": 2, "trainer.accelerator": "cpu"}),
        (["trainer=gpu"], {"trainer.accelerator": "gpu", "trainer.precision": "auto"}),  # bf16 where it can
        (["hydra/launcher=joblib"], {"hydra.launcher.n_jobs": -1}),
        (["hydra/launcher=slurm"], {"hydra.launcher.cpus_per_task": 4, "hydra.launcher.timeout_min": 60}),
    ],
)
def test_scale_out_configs_compose(overrides, expected):
    if any("launcher" in o for o in overrides):
        plugin = "joblib" if "joblib" in overrides[0] else "submitit"
        pytest.importorskip(f"hydra_plugins.hydra_{plugin}_launcher", reason="an optional extra")
    cfg = compose_config(*overrides, return_hydra_config=True)
    for key, value in expected.items():
        node = cfg
        for part in key.split("."):
            node = node[part]
        assert node == value, key
