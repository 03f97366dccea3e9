"""Generation: decoding rules (greedy, top-k, temperature, long and empty prompts) and the checkpoint CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from attention_lab.errors import ConfigError
from attention_lab.generate import continue_text, generate, load_model, main, parse_args, text_to_ids
from attention_lab.model import AttentionConfig, GPTModel, ModelConfig
from attention_lab.train import run
from tests.conftest import FAST, compose_config

CONTEXT = 16


@pytest.fixture(scope="module")
def model() -> GPTModel:
    torch.manual_seed(0)
    config = ModelConfig(context_length=CONTEXT, emb_dim=32, n_layers=2, n_heads=2, drop_rate=0.1)
    return GPTModel(config, AttentionConfig(num_heads=2, dropout=0.1)).eval()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> tuple[Path, dict]:
    """A checkpoint written by train.run (tiny model, two steps) and the resolved config that made it."""
    log_dir = tmp_path_factory.mktemp("logs")
    cfg = compose_config(
        *FAST, "save_checkpoints=true", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
        log_dir=log_dir,
    )  # fmt: skip
    metrics = run(cfg)
    return Path(metrics["log_dir"]) / "checkpoints" / "last.ckpt", cfg


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
    with pytest.raises(ConfigError, match="prompt is empty"):
        generate(model, text_to_ids(""), max_new_tokens=3, context_length=CONTEXT)


def test_bad_arguments_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="ckpt= is required"):
        parse_args(["prompt=hi"])
    with pytest.raises(ConfigError, match="top_k='many' is not an integer or null"):
        parse_args(["ckpt=x", "top_k=many"])
    with pytest.raises(ConfigError, match="unknown argument 'topk=3'"):
        parse_args(["ckpt=x", "topk=3"])
    # Text values stay verbatim, `=` and `:` included; null turns top-k filtering off.
    args = parse_args(["ckpt=x", "prompt=a: b=c", "top_k=null", "temperature=0.7"])
    assert (args.prompt, args.top_k, args.temperature) == ("a: b=c", None, 0.7)


def test_a_train_py_checkpoint_rebuilds_the_same_network(checkpoint):
    path, cfg = checkpoint
    loaded = load_model(path)
    # The same weights in a network built from the run's own config must give identical logits.
    reference = GPTModel(ModelConfig(**cfg.model), AttentionConfig(**cfg.attention)).eval()
    state = torch.load(path, map_location="cpu", weights_only=False)["state_dict"]
    reference.load_state_dict(
        {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    )
    idx = text_to_ids("Every effort moves you")
    assert not loaded.training
    torch.testing.assert_close(loaded(idx), reference(idx), rtol=0, atol=0)


def test_last_ckpt_holds_the_final_weights_even_when_the_best_is_older(tmp_path):
    # lr 1e-12 leaves the weights unchanged, so epoch 2's val loss is no better and the best stays epoch 1.
    cfg = compose_config(
        *FAST, "save_checkpoints=true", "trainer.max_epochs=2", "optimizer.lr=1e-12",
        "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", log_dir=tmp_path,
    )  # fmt: skip
    checkpoints = Path(run(cfg)["log_dir"]) / "checkpoints"
    best = next(checkpoints.glob("best-*.ckpt"))
    assert torch.load(best, map_location="cpu", weights_only=False)["global_step"] == 2
    assert torch.load(checkpoints / "last.ckpt", map_location="cpu", weights_only=False)["global_step"] == 4


def test_cli_prints_a_continuation_of_the_prompt(checkpoint, capsys):
    path, _ = checkpoint
    assert main([f"ckpt={path}", "prompt=Every effort moves you", "max_new_tokens=5", "top_k=null"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Every effort moves you") and len(out.strip()) > len("Every effort moves you")


def test_cli_ckpt_last_finds_the_newest_checkpoint(checkpoint, capsys):
    path, cfg = checkpoint
    assert main([f"ckpt={path}", "max_new_tokens=4"]) == 0
    explicit = capsys.readouterr().out
    assert main(["ckpt=last", f"log_dir={cfg.paths.log_dir}", "max_new_tokens=4"]) == 0
    assert capsys.readouterr().out == explicit


def test_cli_crops_a_long_prompt_and_says_so(checkpoint, capsys):
    path, cfg = checkpoint
    prompt = "one two three " * cfg.model.context_length  # three times the context in tokens
    assert main([f"ckpt={path}", f"prompt={prompt}", "max_new_tokens=3"]) == 0
    captured = capsys.readouterr()
    assert f"the model sees the last {cfg.model.context_length}" in captured.err
    assert captured.out.startswith(prompt)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ckpt=does/not/exist.ckpt"], "ckpt=does/not/exist.ckpt is not a file"),
        (["ckpt=last", "log_dir={empty}"], "ckpt=last found no last.ckpt"),
        (["ckpt={ckpt}", "prompt="], "prompt= is empty"),
        (["ckpt={junk}"], "is not a checkpoint written by train.py"),
    ],
)
def test_cli_reports_bad_input_in_one_line(argv, message, checkpoint, tmp_path, capsys):
    junk = tmp_path / "junk.ckpt"
    junk.write_text("not a checkpoint")
    names = {"empty": tmp_path, "ckpt": checkpoint[0], "junk": junk}
    assert main([arg.format(**names) for arg in argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
