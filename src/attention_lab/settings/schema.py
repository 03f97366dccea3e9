"""What every setting may be: a pydantic model per config group (conf/<group>/), each field with its type,
range and meaning, and the rules across groups (a variant's own are its registry record's). The groups the
network and the data read are their own typed configs (ModelConfig, AttentionConfig, TextData, RecallData):
checked here, they are what builds the run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from attention_lab.attention import variant
from attention_lab.data.config import DataSettings
from attention_lab.hardware import ACCELERATORS, AUTO, automatic_precision
from attention_lab.model.config import AttentionConfig, ModelConfig
from attention_lab.model.kv_bytes import BYTES_PER_VALUE
from attention_lab.rules import CHECKED, LOGS, Batches, Interval, Name, Seed, Text, refused, rule

Directory = rule(str, lambda v: Path(v).is_dir() or not Path(v).exists(), "a directory", "/dev/null",
                 on_disk=True)  # fmt: skip
ExistingDirectory = rule(str, lambda v: Path(v).is_dir(), "an existing directory", "/no/such/directory",
                         on_disk=True)  # fmt: skip
Figure = rule(str, lambda v: v.lower().endswith((".png", ".pdf", ".svg")) and not Path(v).is_dir(),
              "a file ending in .png, .pdf or .svg", "curves.xyz")  # fmt: skip
Accelerator = rule(str, lambda v: v in ACCELERATORS, f"one of {', '.join(ACCELERATORS)}", "quantum")
Callback = rule(Any, lambda v: v is None or isinstance(v, dict) and "_target_" in v,
                "null (switched off) or a node with a _target_", 1)  # fmt: skip


class Group(BaseModel):
    model_config = CHECKED


class LightningTarget(Group):  # a node hydra.utils.instantiate builds: its class and any of its arguments,
    model_config = ConfigDict(**{**CHECKED, "extra": "allow"})  # which its signature and Lightning check

    target: str = Field(alias="_target_", description="the class built", json_schema_extra={"bad": "no.Such"})


class Paths(Group):
    root: ExistingDirectory = Field(description="the checkout holding conf/ and data/")
    data_dir: Directory = Field(description="where the texts are kept")
    log_dir: Directory = Field(description="where TensorBoard logs and checkpoints go")


class Optimizer(Group):
    lr: float = Field(gt=0, description="the (peak) learning rate of AdamW")
    weight_decay: float = Field(ge=0, description="AdamW's decoupled weight decay")
    fused: bool = Field(description="AdamW in one kernel")
    warmup_steps: int = Field(ge=0, description="optimizer steps of linear warmup; 0 = none")
    initial_lr: float | None = Field(ge=0, description="where the warmup starts; null = 0")
    min_lr: float | None = Field(ge=0, description="where the cosine decay ends; null = no decay")


class Module(Group):  # conf/module: how the LightningModule computes
    fused_loss: bool = Field(description="output head and cross-entropy in one pass")
    compile: bool = Field(description="torch.compile the network")


class Trainer(LightningTarget):  # the rules Lightning checks only once it has the data, or never
    model_config = ConfigDict(**{**CHECKED, "extra": "allow", "frozen": False})  # precision=auto filled in

    accelerator: Accelerator = Field("auto", description="where it trains")
    precision: Any = Field(AUTO, description="auto: bf16-mixed where the device multiplies bf16, or 32-true",
                           json_schema_extra={"bad": 8})  # Lightning's values, checked as the Trainer is
    check_val_every_n_epoch: int | None = Field(None, ge=1, description="epochs between validations")
    accumulate_grad_batches: int | None = Field(None, ge=1, description="batches per optimizer step")
    val_check_interval: Interval = Field(None, description="training batches between validations, or a share")
    limit_train_batches: Batches = Field(None, description="training batches per epoch, or their share")
    limit_val_batches: Batches = Field(None, description="validation batches, or their share")
    gradient_clip_val: float | None = Field(None, ge=0, description="the largest gradient norm")
    _chosen: str = PrivateAttr("")  # why, where trainer.precision=auto chose the precision

    @model_validator(mode="after")
    def precision_chosen(self) -> Trainer:
        if self.precision == AUTO:
            precision, why = automatic_precision(self.accelerator)
            self.precision, self._chosen = precision, why
        return self

    @property
    def precision_chosen_because(self) -> str:
        """Why trainer.precision=auto chose this precision ("": it was set)."""
        return self._chosen


class Network(Group):  # the attention variant, the model's sizes, and the variant's rules for them
    attention: AttentionConfig
    model: ModelConfig

    @model_validator(mode="after")
    def variant_fits_the_sizes(self) -> Network:
        own = self.attention
        sizes = self.model.model_dump(include={"emb_dim", "n_heads", "pos_emb"}) | {"qkv_bias": own.qkv_bias}
        for problem in variant(own.name).problems(**sizes, settings=own.own_settings):
            raise refused(problem.setting, problem.value, problem.reason, problem.given)
        return self


class TrainSettings(Network):
    """conf/config.yaml: one run of train.py, checked; `attention_lab.training.run` builds it from this, and
    saves it beside the run as its config.yaml (model.vocab_size and a text's characters filled in)."""

    model_config = ConfigDict(**{**CHECKED, "frozen": False})  # model.vocab_size is filled in

    seed: Seed = Field(description="seeds weights, dropout and shuffling")
    experiment_name: Name = Field(description=LOGS)
    run_name: Name = Field(description=LOGS)
    ckpt_path: Text | None = Field(description="null, last (the newest of this run name) or a .ckpt file")
    paths: Paths
    optimizer: Optimizer
    module: Module
    data: DataSettings
    callbacks: dict[str, Callback] = Field(description="one entry per callback, built by its _target_")
    trainer: Trainer
    logger: LightningTarget

    @model_validator(mode="after")
    def across_groups(self) -> TrainSettings:
        context, (setting, tokens), ids = self.model.context_length, self.data.tokens, self.data.vocabulary
        if tokens > context:
            reason = f"it must be <= {context}, the most tokens the model takes"
            raise refused(setting, tokens, reason, f"model.context_length={context}")
        if self.model.vocab_size is None:
            self.model = self.model.model_copy(update={"vocab_size": ids})
        elif self.model.vocab_size < ids:
            reason = f"it must be >= {ids}, a row for each token id of data={self.data.name}"
            raise refused("model.vocab_size", self.model.vocab_size, reason)
        scheduled = {key: getattr(self.optimizer, key) for key in ("warmup_steps", "min_lr")}
        scheduled = " and ".join(f"optimizer.{key}={value}" for key, value in scheduled.items() if value)
        trainer = self.trainer.model_extra or {}
        if scheduled and trainer.get("max_epochs") == -1 and trainer.get("max_steps", -1) == -1:
            reason = "the schedule is spread over the run's steps: set trainer.max_epochs or max_steps >= 1"
            raise refused("trainer.max_epochs", -1, reason, scheduled)
        return self

    @property
    def run_dir(self) -> Path:
        """logs/<experiment>/<run_name>: the parent of the run's version_<n> directories (the logger's)."""
        logger = self.logger.model_extra or {}
        return Path(logger["save_dir"]) / str(logger["name"])


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
        description="the folder of the runs to compare, e.g. logs/mask_dropout_verdict_tiny; a list lays "
        "several side by side"
    )
    out: Figure | None = Field(description="the figure; null: <log_dir>/report.png (report-<a>+<b>.png)")
    format: Literal["auto", "rich", "markdown", "plain"] = Field(description="how the tables are printed")
    figure: Literal["auto", "curves", "memory"] = Field(
        description="the loss curves, or quality against memory per variant; auto: memory for recall runs"
    )
    generation_speed: bool = Field(description="time each variant's generation from its checkpoint")


class KvMemorySettings(Network):  # conf/kv_memory.yaml: python -m attention_lab.kv_memory
    optimizer: dict[str, Any] = Field(description="set by each conf/model size for train.py; unused here")
    batch_size: int = Field(ge=1, description="sequences cached side by side")
    context_length: int = Field(ge=1, description="tokens cached per sequence")
    dtype: Literal[tuple(BYTES_PER_VALUE)] = Field(description="the type of the cached values")
