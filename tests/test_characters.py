"""data.tokenizer=char: the text's characters as the vocabulary, saved with the run (its config.yaml and its
checkpoints), so that generation, the samples and the heatmaps decode with the characters it trained on;
and the one-line refusals of a text, a prompt or a checkpoint that does not fit them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from attention_lab import api
from attention_lab.data.datamodule import TextDataModule
from attention_lab.data.tokenizers import CharTokenizer, GPT2Tokenizer
from attention_lab.errors import ConfigError
from attention_lab.settings import TrainSettings, checked
from attention_lab.training.checkpoints import model_from_checkpoint
from attention_lab.training.run_folder import Run
from tests.helpers import MICRO, compose_config, data_settings, train

TEXT = "To be, or not to be: that is the question.\nWhether 'tis nobler in the mind to suffer\n" * 30


@pytest.fixture
def text(tmp_path: Path) -> Path:
    path = tmp_path / "hamlet.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def test_the_vocabulary_is_the_texts_characters_in_code_point_order_and_round_trips() -> None:
    tokenizer = CharTokenizer.of(TEXT)
    assert tokenizer.characters == "".join(sorted(set(TEXT))) and tokenizer.vocab_size == len(set(TEXT))
    order = tokenizer.characters
    assert order[:2] == "\n " and order.index("T") < order.index("o")  # code-point order
    ids = tokenizer.encode(TEXT)
    assert ids.dtype == torch.long and len(ids) == len(TEXT) and tokenizer.decode(ids) == TEXT
    assert tokenizer.labels(tokenizer.encode("to be\n")) == ["t", "o", "␣", "b", "e", "⏎"]
    assert tokenizer.unknown("to BE!") == "!BE"
    with pytest.raises(ValueError, match="'!BE' are not among its"):
        tokenizer.encode("to BE!")


def test_the_checked_settings_hold_the_vocabulary_and_the_model_one_row_per_character(text: Path) -> None:
    settings = checked(TrainSettings, compose_config(f"data.path={text}", "data.tokenizer=char"))
    assert settings.data.characters == CharTokenizer.of(TEXT).characters
    assert settings.model.vocab_size == len(set(TEXT))  # model.vocab_size: null, the data's
    assert checked(TrainSettings, compose_config()).model.vocab_size == GPT2Tokenizer.vocab_size


@pytest.mark.slow
def test_a_run_saves_its_vocabulary_and_generates_and_reports_with_it(text: Path, tmp_path: Path) -> None:
    cfg = compose_config(*MICRO, f"data.path={text}", "data.tokenizer=char", "data.prompt=To be",
                         "callbacks.tensorboard_extras.attention_maps=true",
                         log_dir=tmp_path / "logs")  # fmt: skip
    version_dir = train(cfg)["version_dir"]
    text.rename(text.with_suffix(".moved"))  # a finished run is read back without its text
    run = Run.load(version_dir)
    assert run.settings.data.characters == CharTokenizer.of(TEXT).characters == run.tokenizer.characters
    model = model_from_checkpoint(run.checkpoint())  # the checkpoint alone holds the vocabulary too
    assert model.tokenizer == run.tokenizer and model.config.vocab_size == len(set(TEXT))
    continued = api.generate(model, max_new_tokens=12)
    assert continued.startswith("To be") and len(continued) == len("To be") + 12  # one character a token
    assert set(continued) <= set(TEXT)
    report = api.report(tmp_path / "logs")
    [cell] = report.rows("learning")
    assert (cell["variant"], cell["mask"], cell["learning"]) == ("mha", "causal", "one seed")


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("data.prompt", "To BE", r"^data.prompt=To BE is not allowed with data.tokenizer=char: 'To BE' holds "
                                 r"characters the text lacks \('BE'\)"),
        ("data.characters", "ba", r"^data.characters=ba is not allowed: it must be distinct characters in "
                                  r"code-point order"),
        ("data.characters", "".join(sorted(set(TEXT) - set("q"))),  # no q: "question" is in the text
         r"^data.path=.*hamlet.txt is not allowed: it holds characters that data.characters lacks \('q'\)"),
    ],
)  # fmt: skip
def test_a_text_or_prompt_beyond_the_vocabulary_is_refused_in_one_line(setting, value, message, text) -> None:
    cfg = compose_config(f"data.path={text}", "data.tokenizer=char")
    OmegaConf.update(cfg, setting, value)
    with pytest.raises(ConfigError, match=message):
        TextDataModule(checked(TrainSettings, cfg).data).setup()


def test_characters_belong_to_the_char_tokenizer_only() -> None:
    with pytest.raises(ConfigError, match=r"^data.characters=abc is not allowed with data.tokenizer=gpt2"):
        checked(TrainSettings, compose_config("data.characters=abc"))


def test_a_text_without_the_books_characters_continues_and_shows_its_own_first_line(text: Path) -> None:
    data = data_settings(f"data.path={text}", "data.tokenizer=char")  # no E, v, y: not the book's prompt
    assert data.sample_prompt == data.heatmap == TEXT.splitlines()[0][:32]
    verdict = data_settings("data.tokenizer=char")  # The Verdict holds the book's characters
    assert (verdict.sample_prompt, verdict.prompt) == ("Every effort moves you", None)


def test_generating_a_prompt_the_model_has_no_tokens_for_is_one_line(text: Path, tmp_path: Path) -> None:
    cfg = compose_config(*MICRO, f"data.path={text}", "data.tokenizer=char", log_dir=tmp_path / "logs")
    model = model_from_checkpoint(Run.load(train(cfg)["version_dir"]).checkpoint())
    with pytest.raises(ConfigError, match=r"^prompt=Zounds! is not allowed: the model has no token for '!Z'"):
        api.generate(model, "Zounds!")


def test_a_char_checkpoint_is_not_resumed_with_another_tokenizer(text: Path, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    train(compose_config(*MICRO, f"data.path={text}", "data.tokenizer=char", log_dir=logs))
    checkpoint = next(logs.rglob("last.ckpt"))
    with pytest.raises(ConfigError, match=r"was trained with other settings: .*data.tokenizer=gpt2 "
                                          r"\(checkpoint: char\)"):  # fmt: skip
        train(compose_config(*MICRO, f"data.path={text}", f"ckpt_path={checkpoint}", log_dir=logs))
