"""Hydra composition: the config groups mirror the code and overrides reach the objects."""

from pathlib import Path

import pytest
from hydra.utils import instantiate

from attention_lab.attention import VARIANTS
from attention_lab.cli import CONF_DIR
from attention_lab.data.datamodule import TextDataModule, data_module
from attention_lab.settings import TrainSettings, checked
from tests.helpers import compose_config


def test_default_config_is_tiny_mha_on_the_verdict():
    cfg = compose_config()
    assert cfg.attention.name == "mha" and cfg.attention.causal is True
    assert cfg.model.name == "tiny"
    assert cfg.data.max_length == cfg.model.context_length == 64
    assert compose_config("model.context_length=48").data.max_length == 48  # the windows follow the model
    assert Path(cfg.data.path) == CONF_DIR.parent / "data" / "the-verdict.txt"  # not the cwd
    assert cfg.run_name == "mha-causal-p0.1-s123"


@pytest.mark.slow
def test_one_attention_config_per_variant():
    assert {p.stem for p in (CONF_DIR / "attention").glob("*.yaml")} == set(VARIANTS)
    for name in VARIANTS:
        cfg = compose_config(f"attention={name}", "model=small")
        assert cfg.attention.name == name
        assert "num_heads" not in cfg.attention  # one head count: model.n_heads


def test_overrides_flow_into_run_name_and_objects(tmp_path):
    cfg = compose_config(
        "attention=causal", "attention.causal=false", "attention.dropout=0.3", "model=gpt2_124m",
        "data.batch_size=2", log_dir=tmp_path,
    )  # fmt: skip
    assert cfg.run_name == "causal-non-causal-p0.3-s123"
    assert cfg.model.drop_rate == 0.3  # follows the attention dropout unless set
    assert cfg.model.context_length == 256 and cfg.data.max_length == 256
    dm = data_module(checked(TrainSettings, cfg).data)
    assert isinstance(dm, TextDataModule) and dm.batch_size == 2
    logger = instantiate(cfg.logger)
    assert Path(logger.log_dir).parent == tmp_path / "gpt2_124m" / "causal-non-causal-p0.3-s123"
