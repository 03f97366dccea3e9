"""A run read back from its folder: the one reader (and writer) of a run's config.yaml.

`attention_lab.training.run` saves the run's checked settings there (`save`); `Run.load(version_dir)` gives
them back typed, with the run's axes, its checkpoints and its tokenizer, to the report and the Python API.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from attention_lab.data.tokenizers import Tokenizer
from attention_lab.errors import ConfigError
from attention_lab.run_record import CONFIG_FILE, RunAxes, checkpoint_path
from attention_lab.settings import TrainSettings, checked


def save(settings: TrainSettings, version_dir: Path) -> Path:
    """Write the run's settings, as they were checked, to <version_dir>/config.yaml."""
    path = Path(version_dir) / CONFIG_FILE
    values = settings.model_dump(mode="json", by_alias=True, exclude_unset=True)
    path.write_text(yaml.safe_dump(values, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Run:
    """One run's folder (logs/<experiment>/<run>/version_<n>) and its settings."""

    version_dir: Path
    settings: TrainSettings

    @classmethod
    def load(cls, version_dir: str | Path) -> Run:
        """The run in `version_dir`; ConfigError where it holds no settings this version can read."""
        path = Path(version_dir) / CONFIG_FILE
        try:
            saved = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as err:
            raise ConfigError(f"{path} cannot be read as a run's settings ({err}): train the run with "
                              "train.py, which writes it") from None  # fmt: skip
        try:
            settings = checked(TrainSettings, saved if isinstance(saved, dict) else {}, saved=True)
        except ConfigError as err:
            raise ConfigError(f"{path} holds settings this attention-lab cannot read: {err}") from None
        return cls(Path(version_dir), settings)

    @property
    def axes(self) -> RunAxes:
        return RunAxes.read(self.settings)

    @property
    def tokenizer(self) -> Tokenizer:
        return self.settings.data.make_tokenizer()

    def checkpoint(self, kind: str = "last") -> Path | None:
        """Its checkpoints/<kind>.ckpt where it wrote one."""
        path = checkpoint_path(self.version_dir, kind)
        return path if path.is_file() else None
