"""Generation: decoding rules (greedy, top-k, temperature, long and empty prompts) and the checkpoint CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from attention_lab import api
from attention_lab.data.tokenizers import GPT2Tokenizer
from attention_lab.errors import ConfigError
from attention_lab.generate import generate_text
from attention_lab.model import AttentionConfig, GPTModel, ModelConfig
from attention_lab.model.generation import continue_text, generate
from attention_lab.settings import TrainSettings, checked
from attention_lab.training.checkpoints import model_from_checkpoint
from tests.helpers import WITH_CHECKPOINTS, compose_config, lit_gpt, run_module, train

CONTEXT = 16


def text_to_ids(text: str) -> torch.Tensor:
    """(1, T) GPT-2 ids of `text`."""
    return GPT2Tokenizer().encode(text)[None]


@pytest.fixture(scope="module")
def model() -> GPTModel:
    torch.manual_seed(0)
    config = ModelConfig(context_length=CONTEXT, emb_dim=32, n_layers=2, n_heads=2, drop_rate=0.1)
    return GPTModel(config, AttentionConfig(dropout=0.1)).eval()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> tuple[Path, dict]:
    """A checkpoint written by train.run (tiny model, two steps) and the resolved config that made it."""
    log_dir = tmp_path_factory.mktemp("logs")
    cfg = compose_config(
        *WITH_CHECKPOINTS, "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
        log_dir=log_dir,
    )  # fmt: skip
    metrics = train(cfg)
    return Path(metrics["version_dir"]) / "checkpoints" / "last.ckpt", cfg


def new_tokens(model: GPTModel, idx: torch.Tensor, **kwargs) -> torch.Tensor:
    return generate(model, idx, max_new_tokens=8, context_length=CONTEXT, **kwargs)[:, idx.shape[1] :]


def test_greedy_is_deterministic_and_ignores_the_seed(model):
    texts = {continue_text(model, "Every effort moves you", 10, seed=seed) for seed in (1, 1, 2)}
    assert len(texts) == 1


def test_top_k_1_sampling_equals_greedy(model):
    idx = text_to_ids("Every effort moves you")
    torch.manual_seed(3)
    assert torch.equal(new_tokens(model, idx, temperature=1.5, top_k=1), new_tokens(model, idx))


def test_sampling_is_reproducible_with_a_seed_and_varies_without(model):
    sample = [continue_text(model, "Every effort", 20, temperature=2.0, seed=s) for s in (7, 7, 8)]
    assert sample[0] == sample[1]
    assert sample[0] != sample[2]


def test_a_prompt_longer_than_the_context_is_cropped_to_its_last_tokens(model):
    idx = text_to_ids("I had always thought Jack Gisburn rather a cheap genius--though a good fellow enough")
    assert idx.shape[1] > CONTEXT
    assert torch.equal(new_tokens(model, idx), new_tokens(model, idx[:, -CONTEXT:]))


def test_an_empty_prompt_is_a_clear_error(model):
    with pytest.raises(ConfigError, match="prompt"):
        generate(model, text_to_ids(""), max_new_tokens=3, context_length=CONTEXT)


@pytest.mark.slow
def test_a_train_py_checkpoint_rebuilds_the_same_network(checkpoint):
    path, cfg = checkpoint
    loaded = model_from_checkpoint(path)
    # The same weights in a network built from the run's own config must give identical logits.
    settings = checked(TrainSettings, cfg)
    reference = GPTModel(settings.model, settings.attention).eval()
    state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    reference.load_state_dict(
        {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    )
    idx = text_to_ids("Every effort moves you")
    assert not loaded.training
    torch.testing.assert_close(loaded(idx), reference(idx), rtol=0, atol=0)


@pytest.mark.slow
def test_last_ckpt_holds_the_final_weights_even_when_the_best_is_older(tmp_path):
    # lr 1e-12 leaves the weights unchanged, so epoch 2's val loss is no better and the best stays epoch 1.
    cfg = compose_config(
        *WITH_CHECKPOINTS, "trainer.max_epochs=2", "optimizer.lr=1e-12", "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1", "callbacks.checkpoints.save_best=true", log_dir=tmp_path,
    )  # fmt: skip
    checkpoints = Path(train(cfg)["version_dir"]) / "checkpoints"
    best = torch.load(checkpoints / "best.ckpt", map_location="cpu", weights_only=False)
    assert best["global_step"] == 2
    assert "optimizer_states" not in best  # weights only: for generation, not for resuming
    assert torch.load(checkpoints / "last.ckpt", map_location="cpu", weights_only=False)["global_step"] == 4
    text = generate_text(generate_config(f"ckpt={checkpoints / 'best.ckpt'}", "max_new_tokens=2"))
    assert text.startswith("Every effort moves you")


def generate_config(*overrides: str):
    return compose_config(*overrides, config_name="generate")


@pytest.mark.slow
def test_cli_prints_a_continuation_of_the_prompt(checkpoint):
    path, _ = checkpoint
    # Hydra overrides as on every command line of the project; a quoted prompt may hold `,`, `=` and `:`.
    done = run_module("attention_lab.generate", f"ckpt={path}", "prompt='Every effort, moves: you='",
                      "max_new_tokens=5", "top_k=null")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Every effort, moves: you=") and len(done.stdout.strip()) > 26


@pytest.mark.slow
def test_ckpt_last_finds_the_newest_checkpoint(checkpoint):
    path, cfg = checkpoint
    explicit = generate_text(generate_config(f"ckpt={path}", "max_new_tokens=4"))
    assert (
        generate_text(generate_config("ckpt=last", f"log_dir={cfg.paths.log_dir}", "max_new_tokens=4"))
        == explicit
    )


@pytest.mark.slow
def test_a_long_prompt_is_cropped_and_the_user_told(checkpoint, capsys):
    path, cfg = checkpoint
    prompt = "one two three " * cfg.model.context_length  # three times the context in tokens
    text = generate_text(generate_config(f"ckpt={path}", f"prompt='{prompt}'", "max_new_tokens=3"))
    assert f"the model sees the last {cfg.model.context_length}" in capsys.readouterr().err
    assert text.startswith(prompt)


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ([], "ckpt="),
        (["ckpt=does/not/exist.ckpt"], "ckpt=does/not/exist.ckpt"),
        (["ckpt=last", "log_dir={empty}"], "ckpt=last"),
        (["ckpt={junk}", "prompt=''"], "prompt="),  # checked before the checkpoint is read
        (["ckpt={junk}", "max_new_tokens=-1"], "max_new_tokens=-1"),
        (["ckpt={junk}"], "ckpt="),
    ],
)
def test_bad_input_names_the_setting(overrides, setting, tmp_path):
    junk = tmp_path / "junk.ckpt"
    junk.write_text("not a checkpoint")
    names = {"empty": tmp_path, "junk": junk}
    with pytest.raises(ConfigError) as error:
        generate_text(generate_config(*(o.format(**names) for o in overrides)))
    assert str(error.value).startswith(setting)


@pytest.mark.slow
def test_cli_bad_input_is_one_line_and_status_1(tmp_path):
    done = run_module("attention_lab.generate", f"ckpt={tmp_path / 'missing.ckpt'}")
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ckpt=") and "missing.ckpt" in line


@pytest.mark.parametrize(("data", "expected"), [(["data.prompt='ROMEO:'"], "ROMEO:"),
                                                (["data.prompt=null"], "Every effort moves you"),
                                                (["data=recall", "data.num_pairs=2", "data.seq_len=8"], "k")],
                         )  # fmt: skip
def test_without_a_prompt_generation_continues_the_prompt_of_the_models_data(data, expected):
    module = lit_gpt(*data, "model.emb_dim=16", "model.n_layers=1", "model.context_length=16")
    assert module.model.prompt.startswith(expected)  # a recall model's: its first question
    assert generate_config("ckpt=last").prompt is None  # the default asks the checkpoint's model
    assert api.generate(module.model, max_new_tokens=2).startswith(module.model.prompt)
