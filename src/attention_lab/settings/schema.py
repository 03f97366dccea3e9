"""What every setting may be: a pydantic model per config group (conf/<group>/), each field with its type,
range and meaning, and the rules across groups (a variant's own are its registry record's)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator
from pydantic_core import PydanticCustomError

from attention_lab.attention import VARIANTS, variant
from attention_lab.data.recall import recall_problem
from attention_lab.data.shuffle import SHUFFLE_MODES
from attention_lab.data.text import text_path_problem
from attention_lab.data.tokenizer import VOCAB_SIZE
from attention_lab.errors import refusal
from attention_lab.model.config import AttentionConfig, ModelConfig
from attention_lab.model.kv_bytes import BYTES_PER_VALUE


def rule(kind: Any, test: Callable[[Any], Any], allowed: str | Callable[[Any], str], bad: Any) -> Any:
    """`kind` values that pass `test`; a refused one is told `it must be <allowed>` (or `allowed(value)`)."""
    def check(value: Any) -> Any:
        if not test(value):
            raise ValueError(allowed(value) if callable(allowed) else f"it must be {allowed}")
        return value

    return Annotated[kind, AfterValidator(check), Field(json_schema_extra={"bad": bad})]


def refused(setting: str, *line: Any) -> PydanticCustomError:
    """A broken rule across settings, as an error that carries its line: refusal(setting, *line)."""
    return PydanticCustomError("refused", "{line}", {"line": refusal(setting, *line), "setting": setting})


Name = rule(str | int, lambda v: re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._=+,@-]*", str(v)),
            "letters, digits and . _ = + , @ -, starting with a letter or digit", "../a")  # fmt: skip
Directory = rule(str, lambda v: Path(v).is_dir() or not Path(v).exists(), "a directory", "/dev/null")
ExistingDirectory = rule(str, lambda v: Path(v).is_dir(), "an existing directory", "/no/such/directory")
Text = rule(str, str.strip, "some text", "")
TextFile = rule(str, lambda v: text_path_problem(v) is None, text_path_problem, "/")
Url = rule(str, re.compile("(https?|file)://").match, "a https://, http:// or file:// URL", "ftp:/")
Sha256 = rule(str, re.compile("[0-9a-fA-F]{64}").fullmatch, "64 hexadecimal digits", "abc")
Figure = rule(str, lambda v: v.lower().endswith((".png", ".pdf", ".svg")) and not Path(v).is_dir(),
              "a file ending in .png, .pdf or .svg", "curves.xyz")  # fmt: skip
VariantName = rule(str, VARIANTS.__contains__, lambda _: f"it must be one of {', '.join(VARIANTS)}", "flash")
Callback = rule(Any, lambda v: v is None or isinstance(v, dict) and "_target_" in v,
                "null (switched off) or a node with a _target_", 1)  # fmt: skip
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
LOGS = "it names a directory under logs/"


class Group(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Target(Group):  # a node hydra.utils.instantiate builds: its class (checked then), its arguments
    target: str = Field(alias="_target_", description="the class built", json_schema_extra={"bad": "no.Such"})


class LightningTarget(Target):  # any argument of a Lightning class: its signature and Lightning check them
    model_config = ConfigDict(extra="allow")


class Paths(Group):
    root: ExistingDirectory = Field(description="the checkout holding conf/ and data/")
    data_dir: Directory = Field(description="where the text is kept")
    log_dir: Directory = Field(description="where TensorBoard logs and checkpoints go")


class Attention(AttentionConfig):
    name: VariantName = Field(description="the attention variant, conf/attention/<name>.yaml")


class Model(ModelConfig):
    name: Name = Field(description=LOGS)
    vocab_size: int = Field(ge=1, description="a row for each token id of the data (GPT-2's for a text)")


class Optimizer(Group):
    lr: float = Field(gt=0, description="the (peak) learning rate of AdamW")
    weight_decay: float = Field(ge=0, description="AdamW's decoupled weight decay")
    fused: bool = Field(description="AdamW in one kernel")
    warmup_steps: int = Field(ge=0, description="optimizer steps of linear warmup; 0 = none")
    initial_lr: float | None = Field(ge=0, description="where the warmup starts; null = 0")
    min_lr: float | None = Field(ge=0, description="where the cosine decay ends; null = no decay")


class Module(Target):
    convert: Literal["none", "partial", "object", "all"] = Field(alias="_convert_", description="Hydra's")
    model: dict[str, Any] = Field(description="${model}: checked as the model group")
    attention: dict[str, Any] = Field(description="${attention}: checked as the attention group")
    optimizer: dict[str, Any] = Field(description="${optimizer}: checked as the optimizer group")
    fused_loss: bool = Field(description="output head and cross-entropy in one pass")
    compile: bool = Field(description="torch.compile the network")


class Batches(Target):  # what every data set has: its name and how its batches are drawn
    name: Name = Field(description="the data set's name: an axis of the run's report")
    batch_size: int = Field(ge=1, description="the windows (sequences) in one batch")
    num_workers: int = Field(ge=0, description="DataLoader worker processes; 0 loads in the main process")
    seed: Seed = Field(description="fixes each epoch's order")
    shuffle: Literal[tuple(SHUFFLE_MODES)] = Field(description="where each epoch's order comes from")


class Data(Batches):  # conf/data/verdict.yaml: a text, tokenized and cut into windows
    path: TextFile = Field(description="the training text; downloaded from data.url when missing")
    url: Url | None = Field(description="where a missing text is downloaded from")
    sha256: Sha256 | None = Field(description="the expected hash of the download; null = not checked")
    max_length: int = Field(ge=1, description="the tokens in one training window")
    stride: int = Field(ge=1, description="the step between window starts, in tokens")
    val_stride: int | None = Field(ge=1, description="the step between validation windows; null: stride")
    train_ratio: float = Field(gt=0, le=1, description="the share of the text used to train")
    prompt: Text | None = Field(description="what TensorBoard's text samples continue; null: the book's")
    heatmap_text: Text | None = Field(description="what the attention heatmaps show; null: the book's")

    @property
    def vocabulary(self) -> int:
        """The token ids the model needs a row for: GPT-2's."""
        return VOCAB_SIZE

    @property
    def tokens(self) -> tuple[str, int]:
        """The setting of the tokens the model reads at once, and its value."""
        return "data.max_length", self.max_length


RECALL = "attention_lab.data.datamodule.RecallDataModule"


class RecallData(Batches):  # conf/data/recall.yaml: associative-recall sequences, generated (data/recall.py)
    target: Literal[RECALL] = Field(alias="_target_", description="the class built")
    num_pairs: int = Field(ge=1, description="key-value pairs per sequence, each asked for once")
    seq_len: int = Field(ge=4, description="the tokens of one sequence")
    vocab_size: int = Field(ge=3, description="token ids: 0 the filler, then as many keys as values")
    train_size: int = Field(ge=1, description="training sequences")
    val_size: int = Field(ge=1, description="validation sequences")
    train_seed: Seed = Field(description="generates the training sequences")
    val_seed: Seed = Field(description="generates the validation sequences; differs from train_seed")

    @property
    def vocabulary(self) -> int:
        return self.vocab_size

    @property
    def tokens(self) -> tuple[str, int]:
        return "data.seq_len", self.seq_len

    @model_validator(mode="after")
    def sequences_can_be_made(self) -> RecallData:
        if (problem := recall_problem(self.num_pairs, self.seq_len, self.vocab_size)) is not None:
            raise refused(*problem)
        if self.val_seed == self.train_seed:
            reason = "the validation sequences must not be the training ones: give another seed"
            raise refused("data.val_seed", self.val_seed, reason, f"data.train_seed={self.train_seed}")
        return self


def data_kind(values: Any) -> str:
    """Which data model checks a data node: recall for RecallDataModule's, text for any other."""
    return "recall" if isinstance(values, dict) and values.get("_target_") == RECALL else "text"


AnyData = Annotated[
    Annotated[Data, Tag("text")] | Annotated[RecallData, Tag("recall")], Discriminator(data_kind)
]


class Trainer(LightningTarget):  # the rules Lightning lacks, whose breach would crash a run later
    check_val_every_n_epoch: int | None = Field(None, ge=1, description="epochs between validations")
    accumulate_grad_batches: int | None = Field(None, ge=1, description="batches per optimizer step")
    val_check_interval: Annotated[float, Field(gt=0)] | str | dict | None = Field(None, description="batches")
    gradient_clip_val: float | None = Field(None, ge=0, description="the largest gradient norm")


class Network(Group):  # the attention variant, the model's sizes, and the variant's rules for them
    attention: Attention
    model: Model

    @model_validator(mode="after")
    def variant_fits_the_sizes(self) -> Network:
        own = self.attention
        sizes = self.model.model_dump(include={"emb_dim", "n_heads", "pos_emb"}) | {"qkv_bias": own.qkv_bias}
        for problem in variant(own.name).problems(**sizes, settings=own.own_settings):
            raise refused(problem.setting, problem.value, problem.reason, problem.given)
        return self


class TrainSettings(Network):
    """conf/config.yaml: train.py and attention_lab.training.run(cfg)."""
    seed: Seed = Field(description="seeds weights, dropout and shuffling")
    experiment_name: Name = Field(description=LOGS)
    run_name: Name = Field(description=LOGS)
    ckpt_path: Text | None = Field(description="null, last (the newest of this run name) or a .ckpt file")
    paths: Paths
    optimizer: Optimizer
    module: Module
    data: AnyData
    callbacks: dict[str, Callback] = Field(description="one entry per callback, built by its _target_")
    trainer: Trainer
    logger: LightningTarget

    @model_validator(mode="after")
    def across_groups(self) -> TrainSettings:
        context, (setting, tokens) = self.model.context_length, self.data.tokens
        if tokens > context:
            reason = f"it must be <= {context}, the most tokens the model takes"
            raise refused(setting, tokens, reason, f"model.context_length={context}")
        if self.model.vocab_size < self.data.vocabulary:
            reason = f"it must be >= {self.data.vocabulary}, a row for each token id of data={self.data.name}"
            raise refused("model.vocab_size", self.model.vocab_size, reason)
        scheduled = {key: getattr(self.optimizer, key) for key in ("warmup_steps", "min_lr")}
        scheduled = " and ".join(f"optimizer.{key}={value}" for key, value in scheduled.items() if value)
        trainer = self.trainer.model_extra or {}
        if scheduled and trainer.get("max_epochs") == -1 and trainer.get("max_steps", -1) == -1:
            reason = "the schedule is spread over the run's steps: set trainer.max_epochs or max_steps >= 1"
            raise refused("trainer.max_epochs", -1, reason, scheduled)
        return self


class GenerateSettings(Group):  # conf/generate.yaml: python -m attention_lab.generate
    ckpt: Text = Field(description="a .ckpt written by train.py, or last")
    prompt: Text | None = Field(description="the text to continue; null: the prompt of the model's data")
    max_new_tokens: int = Field(ge=0, description="tokens to generate")
    temperature: float = Field(ge=0, description="0 = greedy; > 0 samples softmax(logits / temperature)")
    top_k: int | None = Field(ge=1, description="sample among the k most likely tokens; null = all")
    seed: Seed = Field(description="seeds sampling")
    log_dir: Directory = Field(description="where ckpt=last looks")


class ReportSettings(Group):  # conf/report.yaml: python -m attention_lab.report
    log_dir: Text | Annotated[list[Text], Field(min_length=1)] = Field(
        description="the folder of the runs to compare, e.g. logs/mask_dropout_tiny; a list lays several "
        "side by side"
    )
    out: Figure | None = Field(description="the figure; null: <log_dir>/report.png (report-<a>+<b>.png)")
    format: Literal["auto", "rich", "markdown", "plain"] = Field(description="how the tables are printed")
    figure: Literal["auto", "curves", "memory"] = Field(
        description="the loss curves, or quality against memory per variant; auto: memory for recall runs"
    )


class KvMemorySettings(Network):  # conf/kv_memory.yaml: python -m attention_lab.kv_memory
    optimizer: dict[str, Any] = Field(description="set by each conf/model size for train.py; unused here")
    batch_size: int = Field(ge=1, description="sequences cached side by side")
    context_length: int = Field(ge=1, description="tokens cached per sequence")
    dtype: Literal[tuple(BYTES_PER_VALUE)] = Field(description="the type of the cached values")
