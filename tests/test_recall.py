"""data=recall: the associative-recall sequences, the loss and accuracy at the answers only, the settings
refused before anything is built, and a run that logs the accuracy beside the loss."""

from __future__ import annotations

import pytest
import torch

from attention_lab import tags
from attention_lab.data.datamodule import RecallDataModule
from attention_lab.data.recall import FILLER, NO_ANSWER, key_count, recall_sequences
from attention_lab.errors import ConfigError
from attention_lab.report.memory import memory_rows
from attention_lab.report.quality import QUALITY
from attention_lab.report.runs import RunSummary
from attention_lab.report.stats import group_cells
from attention_lab.run_record import RunAxes
from attention_lab.settings import TrainSettings, checked
from attention_lab.training.module import LitGPT
from tests.helpers import (
    FAST,
    assert_mentions,
    compose_config,
    data_settings,
    lit_gpt,
    run_train_script,
    scalars,
    train,
)

PAIRS, LENGTH, VOCAB = 6, 30, 33


def pairs_of(row: torch.Tensor) -> dict[int, int]:
    """The key → value pairs a sequence lists first."""
    return {int(k): int(v) for k, v in zip(row[0 : 2 * PAIRS : 2], row[1 : 2 * PAIRS : 2], strict=True)}


def test_keys_are_distinct_and_every_question_targets_its_keys_value():
    inputs, targets = recall_sequences(200, PAIRS, LENGTH, VOCAB, seed=0)
    assert inputs.shape == targets.shape == (200, LENGTH)
    keys = key_count(VOCAB)
    for row, target in zip(inputs, targets, strict=True):
        listed = pairs_of(row)
        assert len(listed) == PAIRS  # distinct keys
        assert all(1 <= k <= keys < v <= 2 * keys for k, v in listed.items())
        asked = (target != NO_ANSWER).nonzero().flatten()
        assert len(asked) == PAIRS and (asked >= 2 * PAIRS).all()  # one question per pair, after the pairs
        assert sorted(int(row[p]) for p in asked) == sorted(listed)  # every key asked once
        assert all(int(target[p]) == listed[int(row[p])] for p in asked)
        # The scored positions are exactly the questions: every other position of the question region
        # holds filler or an answer.
        others = [int(row[p]) for p in range(2 * PAIRS, LENGTH) if p not in set(asked.tolist())]
        assert all(token == FILLER or token > keys for token in others)


def test_the_same_seed_gives_the_same_sequences_and_the_splits_differ():
    first, again = (recall_sequences(50, PAIRS, LENGTH, VOCAB, seed=3) for _ in range(2))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    data = RecallDataModule(data_settings("data=recall", f"data.num_pairs={PAIRS}", f"data.seq_len={LENGTH}",
                                          "data.train_size=50", "data.val_size=50"))  # fmt: skip
    data.setup()
    assert not torch.equal(data.train_set.tensors[0], data.val_set.tensors[0])
    assert torch.equal(data.train_set.tensors[0], recall_sequences(50, PAIRS, LENGTH, VOCAB, 0)[0])


def answering(choose) -> LitGPT:
    """A LitGPT whose features are the one-hot of `choose(inputs)` (b, T) and whose head is the identity:
    it answers exactly what `choose` says, at every position."""
    module = lit_gpt(
        "data=recall",
        f"data.num_pairs={PAIRS}",
        f"data.seq_len={LENGTH}",
        "attention=none",
        f"model.emb_dim={VOCAB}",
        "model.n_layers=1",
        "model.n_heads=1",
        "attention.dropout=0.0",
    )
    module.model.out_head.weight.data = torch.eye(VOCAB)
    module.features = lambda inputs: torch.nn.functional.one_hot(choose(inputs), VOCAB).float()
    return module


def recall_accuracy(module: LitGPT, inputs: torch.Tensor, targets: torch.Tensor) -> float:
    with torch.no_grad():
        for start in range(0, len(inputs), 100):
            module.validation_step((inputs[start : start + 100], targets[start : start + 100]), start)
    return float(module.val_accuracy.compute())


def test_accuracy_is_taken_at_the_answers_only():
    inputs, targets = recall_sequences(1000, PAIRS, LENGTH, VOCAB, seed=1)

    def recall(batch: torch.Tensor) -> torch.Tensor:  # the listed value of the key read, else filler
        looked_up = torch.zeros_like(batch)
        for i, row in enumerate(batch):
            listed = pairs_of(row)
            looked_up[i] = torch.tensor([listed.get(int(t), FILLER) for t in row])
        looked_up[:, : 2 * PAIRS] = FILLER  # wrong wherever no answer is due
        return looked_up

    assert recall_accuracy(answering(recall), inputs, targets) == 1.0
    constant = recall_accuracy(answering(lambda batch: torch.full_like(batch, key_count(VOCAB) + 1)), inputs,
                               targets)  # fmt: skip
    assert constant == pytest.approx(1 / key_count(VOCAB), abs=0.02)  # chance: one value in K


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.num_pairs=9", "data.seq_len=32"], "data.num_pairs=9 is not allowed: the 9 pairs and their 9 "
                                                  "questions need 4 × 9 = 36 tokens"),
        (["data.num_pairs=17", "data.seq_len=100"], "data.num_pairs=17 is not allowed: the keys of a "
                                                    "sequence are distinct and data.vocab_size=33 has 16"),
        (["data.val_seed=0"], "data.val_seed=0 is not allowed with data.train_seed=0"),
        (["model.vocab_size=20"], "model.vocab_size=20 is not allowed: it must be >= 33"),
    ],
)  # fmt: skip
def test_sequences_that_cannot_be_made_are_refused_in_one_line(overrides, message):
    with pytest.raises(ConfigError) as refused:
        checked(TrainSettings, compose_config("data=recall", *overrides))
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)


@pytest.mark.slow
def test_the_command_line_refuses_them_before_anything_is_built(tmp_path):
    done = run_train_script("data=recall", "data.num_pairs=40", f"paths.log_dir={tmp_path}")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert_mentions(done.stderr, "data.num_pairs=40 is not allowed", "lower data.num_pairs")
    assert not (tmp_path / "tiny").exists()  # no run directory


def test_the_data_set_sets_the_models_vocabulary_and_context():
    settings = checked(TrainSettings, compose_config("data=recall", "data.num_pairs=4", "data.seq_len=20"))
    assert (settings.model.vocab_size, settings.model.context_length, settings.data.seq_len) == (33, 20, 20)
    assert settings.run_name == "recall-k4-mha-causal-p0.1-s123"


@pytest.mark.slow
def test_a_recall_run_logs_its_accuracy_beside_the_loss_and_its_heatmaps(tmp_path):
    cfg = compose_config(*FAST, "data=recall", "data.num_pairs=4", "data.train_size=256", "data.val_size=64",
                         "callbacks.tensorboard_extras.attention_maps=true", log_dir=tmp_path)  # fmt: skip
    metrics = train(cfg)
    logged = scalars(metrics["version_dir"], ("val/", "val_attention/"))
    assert {tags.VAL_LOSS, tags.VAL_LOSS_CAUSAL, tags.VAL_ACCURACY} <= set(logged)
    assert 0.0 <= list(logged[tags.VAL_ACCURACY].values())[-1] <= 1.0
    assert tags.FOCUS.format(tags.NEXT_TOKEN, 0) in logged  # the leak metric works on it as on text
    assert not [tag for tag in logged if tag.startswith("val_loss_by_position")]  # text only


def test_the_report_compares_each_variant_with_mha_at_the_same_number_of_pairs():
    def summary(variant: str, pairs: int, seed: int, accuracy: float) -> RunSummary:
        axes = RunAxes(data="recall", pairs=pairs, variant=variant, layers=2, seed=seed)
        name = f"{variant}-{pairs}-{seed}"
        return RunSummary(name, axes, QUALITY["recall"], *[0.0] * 5, [], [], [], accuracy=accuracy)

    runs = [summary("mha", pairs, seed, 1.0 - 0.01 * seed) for pairs in (2, 8) for seed in (1, 2, 3)]
    runs += [summary("gru", 2, seed, 0.98 - 0.01 * seed) for seed in (1, 2, 3)]
    runs += [summary("gru", 8, seed, 0.30 + 0.01 * seed) for seed in (1, 2, 3)]
    headers, rows = memory_rows(group_cells(runs))
    table = {(row[0], row[1]): dict(zip(headers, row, strict=True)) for row in rows}
    assert table[("gru", "8")]["Δ vs mha"].startswith("-0.660") and table[("gru", "8")]["verdict"] == (
        "exceeds seed spread"
    )
    assert table[("gru", "2")]["Δ vs mha"].startswith("-0.020")
    assert table[("mha", "8")]["Δ vs mha"] == "—"
    assert table[("mha", "8")]["recall accuracy"].startswith("0.980")


def test_without_the_mask_the_answer_is_in_view_and_the_leak_metric_sees_it():
    """A non-causal model on recall batches: val/loss_causal is its loss with the mask forced, as on text."""
    torch.manual_seed(0)
    module = lit_gpt(
        "data=recall",
        f"data.num_pairs={PAIRS}",
        f"data.seq_len={LENGTH}",
        "model.emb_dim=16",
        "model.n_layers=1",
        "model.n_heads=2",
        "attention.causal=false",
        "attention.dropout=0.0",
    )
    module.eval()
    inputs, targets = recall_sequences(8, PAIRS, LENGTH, VOCAB, seed=0)
    with torch.no_grad():
        module.validation_step((inputs, targets), 0)
        with module.model.causal_mask_forced():
            forced = module.loss(inputs, targets)
    torch.testing.assert_close(module.val_loss_causal.compute(), forced)
    assert not torch.isclose(module.val_loss.compute(), forced)
