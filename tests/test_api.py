"""attention_lab.api, the notebooks' way in: the command line's checks and one-line errors, and the
address that opens TensorBoard on the experiment. The notebook (tests/test_notebook.py) runs the rest."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from attention_lab import api
from attention_lab.errors import ConfigError
from attention_lab.training.tensorboard import COLOUR_BY_CELL
from tests.helpers import ROOT


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.n_heads=0"], r"^model.n_heads=0 is not allowed: it must be greater than or equal to 1"),
        (["trainer.val_check_interval=0.5"], r"^Could not override 'trainer.val_check_interval'\. To append"),
        (["attention=flash"], r"^In 'config': Could not find 'attention/flash'"),
    ],
)
def test_train_refuses_what_train_py_refuses_in_one_line(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as refused:
        api.train(overrides)
    assert refused.value.__cause__ is None and refused.value.__suppress_context__  # no chain behind it


def test_the_landing_address_pins_the_losses_and_the_attention_on_the_next_token() -> None:
    url = urlsplit(api.landing_url("http://localhost:6006", n_layers=3))
    assert url.fragment == "timeseries"
    query = parse_qs(url.query)
    assert [card["tag"] for card in json.loads(query["pinnedCards"][0])] == [
        "val/loss", "val/loss_causal", *(f"val_attention/next_token/layer_{i}" for i in range(3))
    ]  # fmt: skip
    assert query["runColorGroup"] == [f"regex:{COLOUR_BY_CELL}"]  # runs coloured by their cell


def test_a_sweep_is_refused_with_the_command_that_runs_it() -> None:
    message = r"^overrides=sweep=mask_dropout is not allowed: .* python train\.py sweep=mask_dropout$"
    with pytest.raises(ConfigError, match=message):
        api.train(["sweep=mask_dropout"])


def test_a_run_without_checkpoints_has_no_model_to_load_in_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^ckpt=null is not allowed: .*callbacks\.checkpoints=null"):
        api.load_model(None)


@pytest.mark.parametrize("call", [api.report, api.show_tensorboard])
def test_a_folder_without_runs_is_one_line(call, tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"^log_dir=.*/missing is not allowed: it must be a folder of runs"):
        call(tmp_path / "missing")


def test_a_relative_folder_is_found_in_the_project_root_from_any_directory(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # as a notebook in notebooks/ is
    assert api.runs_folder("conf") == ROOT / "conf"
    (tmp_path / "conf").mkdir()
    assert api.runs_folder("conf") == Path("conf")  # found from the working directory first
