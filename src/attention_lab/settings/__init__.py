"""Every setting a user can type, checked by pydantic models of the config groups (schema.py: one root per
command line), each refusal one line (messages.py); no Lightning import, so train.py is quick to refuse."""

from attention_lab.settings.messages import checked
from attention_lab.settings.schema import GenerateSettings, KvMemorySettings, ReportSettings, TrainSettings

__all__ = ["GenerateSettings", "KvMemorySettings", "ReportSettings", "TrainSettings", "checked"]
