"""Named sweeps (conf/sweep/): the grids they launch, and what a finished multirun leaves in TensorBoard."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Glob
from hydra.types import RunMode
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from attention_lab.attention import VARIANTS
from attention_lab.attention.positions import ENCODINGS
from attention_lab.cli import CONF_DIR
from attention_lab.run_record import MASK, RunAxes
from attention_lab.tags import SAMPLE_GREEDY, SAMPLE_TOP_K
from attention_lab.training.tensorboard import HPARAM_METRICS
from tests.helpers import FAST, TWO_BATCHES, compose_config, run_train_script, scalars

# The tags a run must write for TensorBoard to tell the story (attention_lab.training.module's docstring).
SCALAR_TAGS = {
    "train/loss",
    "train/tokens_seen",
    "val/loss",
    "val/ppl",
    "val/loss_causal",
    "lr-AdamW",
    "val_summary/loss_best",
    "val_summary/train_loss",
    "val_summary/gap",
    "val_loss_by_position/position_1",
    "val_attention/next_token/layer_0",
}
HPARAMS = {f.name for f in RunAxes.fields()} - {"pairs"}  # every axis a text run has (pairs: data=recall)


def compose_with_hydra(*overrides: str):
    return compose_config(*overrides, return_hydra_config=True)


def sweep_values(cfg, key: str) -> list[str]:
    """The values the sweep gives `key`; a glob over a config group is expanded as Hydra expands it."""
    [override] = OverridesParser.create().parse_overrides([f"{key}={cfg.hydra.sweeper.params[key]}"])
    if isinstance(override.value(), Glob):
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            options = GlobalHydra.instance().config_loader().get_group_options(key)
        return override.value().filter(options)
    return [value.strip() for value in cfg.hydra.sweeper.params[key].split(",")]


def read_run(version_dir: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(version_dir))
    accumulator.Reload()
    return accumulator


def test_a_plain_run_is_no_sweep():
    cfg = compose_with_hydra()
    assert cfg.hydra.mode in (None, RunMode.RUN)
    assert not cfg.hydra.sweeper.get("params")
    assert cfg.experiment_name == cfg.model.name


def test_mask_dropout_sweeps_causal_by_dropout_by_seed_in_one_tensorboard_parent():
    cfg = compose_with_hydra("sweep=mask_dropout", "model=small")
    assert cfg.hydra.mode == RunMode.MULTIRUN  # `python train.py sweep=mask_dropout`, no -m needed
    assert sweep_values(cfg, "attention.causal") == ["true", "false"]
    assert sweep_values(cfg, "attention.dropout") == ["0.0", "0.2"]
    assert sweep_values(cfg, "seed") == ["1", "2", "3"]
    assert cfg.attention.name == "mha"
    assert cfg.experiment_name == "mask_dropout_verdict_small"


@pytest.mark.parametrize("sweep", ["mask_dropout", "mask_pos_emb"])
def test_mask_sweeps_train_in_the_regime_where_the_mask_matters(sweep):
    cfg = compose_with_hydra(f"sweep={sweep}", "seed=2")
    assert (cfg.model.context_length, cfg.data.max_length, cfg.data.stride) == (16, 16, 4)
    assert (cfg.trainer.max_epochs, cfg.trainer.val_check_interval) == (2, 0.25)
    assert cfg.data.seed == 2  # the seed axis reaches the shuffling as well as the weights


def test_mask_pos_emb_sweeps_causal_by_positions_by_seed():
    cfg = compose_with_hydra("sweep=mask_pos_emb")
    assert cfg.hydra.mode == RunMode.MULTIRUN
    assert sweep_values(cfg, "attention.causal") == ["true", "false"]
    assert sweep_values(cfg, "model.pos_emb") == list(ENCODINGS)
    assert sweep_values(cfg, "seed") == ["1", "2", "3"]
    assert cfg.attention.dropout == 0.0
    assert cfg.experiment_name == "mask_pos_emb_verdict_tiny"
    run_name = compose_with_hydra("sweep=mask_pos_emb", "model.pos_emb=none", "seed=3").run_name
    assert run_name == "mha-pos_none-causal-p0.0-s3"


def test_dropout_placement_sweeps_one_place_at_a_time_by_seed():
    cfg = compose_with_hydra("sweep=dropout_placement")
    assert cfg.hydra.mode == RunMode.MULTIRUN and cfg.attention.causal is True
    assert sweep_values(cfg, "dropout") == ["none", "embedding", "attention", "shortcut", "all"]
    assert sweep_values(cfg, "seed") == ["1", "2", "3"]
    rates, names = {}, {}
    for place in sweep_values(cfg, "dropout"):
        placed = compose_with_hydra("sweep=dropout_placement", f"dropout={place}", "seed=1")
        rates[place] = (placed.model.drop_rate_emb, placed.attention.dropout, placed.model.drop_rate_shortcut)
        names[place] = placed.run_name
    assert rates == {"none": (0.0, 0.0, 0.0), "embedding": (0.2, 0.0, 0.0), "attention": (0.0, 0.2, 0.0),
                     "shortcut": (0.0, 0.0, 0.2), "all": (0.2, 0.2, 0.2)}  # fmt: skip
    # the attention dropout always, the other two rates where they differ from it
    assert names == {"none": "mha-causal-p0.0-s1", "embedding": "mha-causal-p0.0-emb0.2-s1",
                     "attention": "mha-causal-p0.2-emb0.0-shortcut0.0-s1",
                     "shortcut": "mha-causal-p0.0-shortcut0.2-s1",
                     "all": "mha-causal-p0.2-s1"}  # fmt: skip


@pytest.mark.slow
def test_variants_sweeps_every_variant_with_the_mask_on():
    cfg = compose_with_hydra("sweep=variants")
    assert cfg.hydra.mode == RunMode.MULTIRUN
    # every variant that trains here: on the CPU all but flex (FlexAttention has no backward pass there)
    trains_here = [name for name, record in VARIANTS.items() if record.cannot_train_on("cpu") is None]
    assert sweep_values(cfg, "attention") == trains_here
    assert sweep_values(cfg, "seed") == ["1", "2", "3"]
    for variant in VARIANTS:
        assert compose_with_hydra("sweep=variants", f"attention={variant}").attention.causal is True


@pytest.mark.slow
def test_grid_writes_one_run_per_job_with_every_tag(grid_sweep: Path):
    version_dirs = sorted(path.parent for path in grid_sweep.glob("*/version_*/events.out.tfevents.*"))
    assert [d.relative_to(grid_sweep).as_posix() for d in version_dirs] == [
        f"mha-{mask}-p{dropout}-s{seed}/version_0"
        for mask in MASK.values()
        for dropout in ("0.0", "0.1")
        for seed in (1, 2)
    ]
    assert not list(grid_sweep.rglob("*.ckpt"))  # save_checkpoints=false: not even Lightning's default one
    for version_dir in version_dirs:
        run = read_run(version_dir)
        tags = run.Tags()
        assert not SCALAR_TAGS - set(tags["scalars"]), version_dir  # shows the missing tags
        assert set(tags["images"]) >= {"val_attention/layer_0", "val_attention/layer_1"}  # tiny: 2 layers
        assert "val_loss_by_position/curve" in tags["images"]
        assert "hp_metric" not in tags["scalars"]  # Time Series does not open on it
        greedy, sampled = (
            run.Tensors(f"{tag}/text_summary")[-1].tensor_proto.string_val[0].decode()
            for tag in (SAMPLE_GREEDY, SAMPLE_TOP_K)
        )
        assert all(text.startswith("    Every effort moves you") for text in (greedy, sampled))


@pytest.mark.slow
def test_grid_runs_carry_their_hparams_for_the_hparams_tab(grid_sweep: Path):
    for version_dir in sorted(path.parent for path in grid_sweep.glob("*/version_*/events.out.tfevents.*")):
        content = read_run(version_dir).PluginTagToContent("hparams")
        start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
        hparams = start.session_start_info.hparams
        assert not HPARAMS - set(hparams)
        assert hparams["variant"].string_value == "mha"
        mask = MASK[hparams["causal"].string_value == "true"]
        assert (
            f"-{mask}-p{hparams['dropout'].number_value}-s{hparams['seed'].number_value:g}"
            in version_dir.parent.name
        )
        experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
        metrics = {m.name.tag for m in experiment.metric_infos}
        assert metrics == set(HPARAM_METRICS)  # the last val loss beside the best


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is None,
    reason="the optuna extra is not installed: pip install -e '.[optuna]'",
)
def test_optuna_search_minimises_the_best_val_loss(tmp_path: Path):
    done = run_train_script(
        "sweep=optuna",
        "hydra.sweeper.n_trials=2",
        f"paths.log_dir={tmp_path}",
        *FAST,
        *TWO_BATCHES,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (results,) = tmp_path.glob("hydra/optuna_verdict_tiny/*/optimization_results.yaml")
    best_value = OmegaConf.load(results).best_value
    best_vals = []
    for version_dir in {p.parent for p in (tmp_path / "optuna_verdict_tiny").rglob("events.out.tfevents.*")}:
        best_vals.append(min(scalars(version_dir, "val/loss")["val/loss"].values()))
    assert len(best_vals) == 2
    assert best_value == pytest.approx(min(best_vals), abs=1e-4)


@pytest.mark.parametrize("sweep", ["mask_dropout", "mask_pos_emb", "why_attention", "quality_memory"])
def test_each_sweep_on_characters_takes_the_experiments_budget_and_the_verdict_keeps_its_own(sweep):
    """A sweep is its grid; its regime is the data's (conf/regime/<data>-<sweep>.yaml): on
    experiment=shakespeare_char the experiment's 2,000 steps of the mini model, on The Verdict its epochs."""
    on_characters = compose_config("experiment=shakespeare_char", f"sweep={sweep}")
    assert on_characters.experiment_name == f"{sweep}_shakespeare_char_mini"
    model, trainer = on_characters.model, on_characters.trainer
    budget = (model.name, model.context_length, trainer.max_steps, trainer.val_check_interval)
    assert budget == (("mini", 64, 1000, 125) if sweep == "mask_pos_emb" else ("mini", 64, 2000, 250))
    assert on_characters.data.tokenizer == "char" and on_characters.data.stride == 64
    on_verdict = compose_config(f"sweep={sweep}")
    assert on_verdict.data.name == "verdict" and on_verdict.trainer.max_steps == -1
    assert on_verdict.experiment_name == f"{sweep}_verdict_tiny"  # a folder per data set
    if sweep != "quality_memory":  # whose regime on The Verdict is the default run's budget
        assert on_verdict.trainer.max_epochs == 2 and on_verdict.data.stride == 4


def test_the_variants_that_differ_in_speed_are_compared_in_fp32_on_every_machine():
    for sweep in ("why_attention", "quality_memory"):
        assert compose_config("experiment=shakespeare_char", f"sweep={sweep}").trainer.precision == "32-true"


def test_the_quality_memory_sweep_runs_every_cache_saver():
    quality = compose_config("experiment=shakespeare_char", "sweep=quality_memory", return_hydra_config=True)
    variants = quality.hydra.sweeper.params.attention.split(",")
    assert variants == ["mha", "gqa", "mqa", "mla", "swa", "gru", "none"]
    assert quality.hydra.sweeper.params.seed == "1,2,3"
    assert quality.callbacks.checkpoints is None


def test_the_recall_sweep_crosses_pairs_at_one_length_with_a_grid_of_learning_rates():
    recall = compose_config("sweep=recall", return_hydra_config=True)
    params = recall.hydra.sweeper.params
    assert params["data.num_pairs"] == "4,8,16" and params["optimizer.lr"] == "1e-3,3e-3,1e-2"
    assert recall.data.seq_len == recall.model.context_length == 64  # whatever the pairs
    one = compose_config("sweep=recall", "data.num_pairs=16", "optimizer.lr=3e-3")
    assert one.run_name.endswith("-lr0.003")
