"""Every setting a user can type: a model per config group (schema.py), refusals in one line (messages.py)."""

from attention_lab.settings.messages import checked
from attention_lab.settings.schema import GenerateSettings, KvMemorySettings, ReportSettings, TrainSettings

__all__ = ["GenerateSettings", "KvMemorySettings", "ReportSettings", "TrainSettings", "checked"]
