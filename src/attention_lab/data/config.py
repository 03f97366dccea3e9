"""The data's settings, one typed model per data kind (conf/data/*.yaml), as ModelConfig is the model's.

`kind` tells them apart: `text` (a text file, tokenized and cut into windows) or `recall` (associative-recall
sequences, generated). It is the one place that says which kind a run's data is: the data module's
builder, the LightningModule and the report each ask it once; everything else asks the data's settings
what they have (a tokenizer, a prompt, a heatmap text). A text's source (`data.source`: where the
project downloads it from and the sha256 it checks) guards only the copy at the source's own path; any
other `data.path` is the user's own text, read as it is.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, Field, TypeAdapter, model_validator

from attention_lab.data.recall import NO_ANSWER, RecallTokenizer, recall_problem, recall_sequences
from attention_lab.data.shuffle import SHUFFLE_MODES
from attention_lab.data.text import BOOK_PROMPT, BOOK_SENTENCE, load_text, text_path_problem
from attention_lab.data.tokenizers import TOKENIZERS, CharTokenizer, Tokenizer, make_tokenizer
from attention_lab.errors import ConfigError
from attention_lab.rules import CHECKED, Name, Seed, Text, refused, refused_line, rule

TextFile = rule(str, lambda v: text_path_problem(v) is None, text_path_problem, "/", on_disk=True)
Url = rule(str, re.compile("(https?|file)://").match, "a https://, http:// or file:// URL", "ftp:/")
Sha256 = rule(str, re.compile("[0-9a-fA-F]{64}").fullmatch, "64 hexadecimal digits", "abc")
Characters = rule(str, lambda v: list(v) == sorted(set(v)), "distinct characters in code-point order", "ba")
KIND = "the data kind: text (a text file) or recall (associative-recall sequences, generated)"
FIRST_LINE_CHARACTERS = 32  # the prompt and heatmap text taken from a text's first line: at most these


class DataConfig(BaseModel):
    """What every data set has: its name and how its batches are drawn."""

    model_config = {**CHECKED, "frozen": False}  # filled in as it is checked: a text's characters

    name: Name = Field(description="the data set's name: an axis of the run's report")
    batch_size: int = Field(ge=1, description="the windows (sequences) in one batch")
    num_workers: int = Field(ge=0, description="DataLoader worker processes; 0 loads in the main process")
    seed: Seed = Field(description="fixes each epoch's order")
    shuffle: Literal[tuple(SHUFFLE_MODES)] = Field(description="where each epoch's order comes from")


class Source(BaseModel):
    """A text the project downloads: from `url` to `path`, checked against `sha256`."""

    model_config = CHECKED

    url: Url = Field(description="where the text is downloaded from")
    sha256: Sha256 | None = Field(description="its hash, checked on the download and on the copy; null: none")
    path: TextFile = Field(description="where the downloaded copy is kept")


class TextData(DataConfig):
    """conf/data/verdict.yaml and its kin: a text, tokenized (GPT-2's BPE or its characters) and cut into
    sliding windows."""

    kind: Literal["text"] = Field(description=KIND)
    path: TextFile = Field(description="the text trained on: data.source.path, or your own UTF-8 file")
    source: Source | None = Field(description="the text the project downloads; null: none")
    tokenizer: Literal[TOKENIZERS] = Field(description="gpt2: GPT-2's BPE; char: the text's characters")
    characters: Characters | None = Field(
        description="tokenizer=char: the vocabulary in code-point order; null: the text's own characters"
    )
    max_length: int = Field(ge=1, description="the tokens in one training window")
    stride: int = Field(ge=1, description="the step between window starts, in tokens")
    val_stride: int | None = Field(ge=1, description="the step between validation windows; null: stride")
    train_ratio: float = Field(gt=0, le=1, description="the share of the text used to train")
    prompt: Text | None = Field(description="what the text samples continue; null: the book's")
    heatmap_text: Text | None = Field(description="what the attention heatmaps show; null: the book's")

    @model_validator(mode="after")
    def vocabulary_known(self) -> TextData:
        """A character vocabulary read from the text, and the prompt and heatmap text of a text whose
        characters the book's lack, its first line (the run's config.yaml then holds them: a finished run's
        settings never read the text); refused where the tokenizer is not char, or a given text holds
        characters the vocabulary lacks."""
        if self.tokenizer != "char" and self.characters is not None:
            reason = "it is a setting of data.tokenizer=char only"
            raise refused("data.characters", self.characters, reason, f"data.tokenizer={self.tokenizer}")
        if self.tokenizer == "char" and self.characters is None:
            self.characters = CharTokenizer.of(self.checked_text()).characters
        lacking = [key for key, book in (("prompt", BOOK_PROMPT), ("heatmap_text", BOOK_SENTENCE))
                   if getattr(self, key) is None and self.make_tokenizer().unknown(book)]  # fmt: skip
        if lacking:
            first_line = next((line.strip() for line in self.checked_text().splitlines() if line.strip()), "")
            for key in lacking:
                setattr(self, key, first_line[:FIRST_LINE_CHARACTERS])
        for key, text in (("prompt", self.sample_prompt), ("heatmap_text", self.heatmap)):
            if missing := self.make_tokenizer().unknown(text):
                reason = f"{text!r} holds characters the text lacks ({missing!r}): use the text's characters"
                raise refused(f"data.{key}", getattr(self, key), reason, f"data.tokenizer={self.tokenizer}")
        return self

    def checked_text(self) -> str:
        """read_text(), its refusal as the setting's one line."""
        try:
            return self.read_text()
        except ConfigError as err:
            raise refused_line(str(err)) from None

    def read_text(self) -> str:
        """The text at `path`: downloaded and hash-checked where it is the source's copy."""
        own = self.source is not None and same_file(self.path, self.source.path)
        return load_text(self.path, *((self.source.url, self.source.sha256) if own else ()))

    def make_tokenizer(self) -> Tokenizer:
        return make_tokenizer(self.tokenizer, self.characters)

    @property
    def vocabulary(self) -> int:
        """The token ids the model needs a row for."""
        return self.make_tokenizer().vocab_size

    @property
    def tokens(self) -> tuple[str, int]:
        """The setting of the tokens the model reads at once, and its value."""
        return "data.max_length", self.max_length

    scores_every_target: ClassVar[bool] = True  # every next token is a target of the loss

    @property
    def validation_stride(self) -> int:
        return self.stride if self.val_stride is None else self.val_stride

    @property
    def positions_compare_contexts(self) -> bool:
        """Whether every position of the validation windows predicts (nearly) the same tokens, so that the
        loss by position differs by what a position has read: windows of stride 1. With a longer stride
        each position predicts other tokens, and its curve compares those tokens as much."""
        return self.validation_stride == 1

    @property
    def sample_prompt(self) -> str:
        return self.prompt or BOOK_PROMPT

    @property
    def heatmap(self) -> str:
        return self.heatmap_text or BOOK_SENTENCE


class RecallData(DataConfig):
    """conf/data/recall.yaml: associative-recall sequences, generated (data/recall.py)."""

    kind: Literal["recall"] = Field(description=KIND)
    num_pairs: int = Field(ge=1, description="key-value pairs per sequence, each asked for once")
    seq_len: int = Field(ge=4, description="the tokens of one sequence")
    vocab_size: int = Field(ge=3, description="token ids: 0 the filler, then as many keys as values")
    train_size: int = Field(ge=1, description="training sequences")
    val_size: int = Field(ge=1, description="validation sequences")
    train_seed: Seed = Field(description="generates the training sequences")
    val_seed: Seed = Field(description="generates the validation sequences; differs from train_seed")

    @model_validator(mode="after")
    def sequences_can_be_made(self) -> RecallData:
        if (problem := recall_problem(self.num_pairs, self.seq_len, self.vocab_size)) is not None:
            raise refused(*problem)
        if self.val_seed == self.train_seed:
            reason = "the validation sequences must not be the training ones: give another seed"
            raise refused("data.val_seed", self.val_seed, reason, f"data.train_seed={self.train_seed}")
        return self

    def make_tokenizer(self) -> RecallTokenizer:
        return RecallTokenizer(self.vocab_size)

    @property
    def vocabulary(self) -> int:
        return self.vocab_size

    @property
    def tokens(self) -> tuple[str, int]:
        return "data.seq_len", self.seq_len

    scores_every_target: ClassVar[bool] = False  # its loss is taken at the answers (the others NO_ANSWER)
    positions_compare_contexts: ClassVar[bool] = False  # so it has no loss by position

    def through_question(self, question: int) -> str:
        """The first validation sequence up to its `question`-th question (0: the first), as text."""
        made = recall_sequences(self.val_size, self.num_pairs, self.seq_len, self.vocab_size, self.val_seed)
        inputs, targets = made
        asked = (targets[0] != NO_ANSWER).nonzero().flatten()
        return self.make_tokenizer().decode(inputs[0, : int(asked[min(question, len(asked) - 1)]) + 1])

    @property
    def sample_prompt(self) -> str:
        """The pairs and the first question: a sample shows the model's answer."""
        return self.through_question(0)

    @property
    def heatmap(self) -> str:
        """Up to the second question: the heatmaps show a look-up."""
        return self.through_question(1)


AnyData = TextData | RecallData
DataSettings = Annotated[AnyData, Field(discriminator="kind")]  # told apart by `kind`
DATA = TypeAdapter(DataSettings)


def same_file(a: str, b: str) -> bool:
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def data_config(data: AnyData | dict[str, Any], saved: bool = True) -> AnyData:
    """Typed data settings as they are, or values typed: by default a run's saved ones (a checkpoint's),
    whose files are not looked at and whose characters are there."""
    if isinstance(data, TextData | RecallData):
        return data
    return DATA.validate_python(data, context={"saved": saved})
