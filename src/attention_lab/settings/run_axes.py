"""The axes of a run (attention_lab.run_record.RunAxes) from its config: a composed one (the run name and
the HParams row are resolved from it, conf/config.yaml) or one a run saved (the report reads it back)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from attention_lab.model.config import ModelConfig
from attention_lab.run_record import RunAxes


def run_axes(config: Mapping[str, Any]) -> RunAxes:
    """RunAxes of `config`, its model node read as a ModelConfig: its properties say which dropout acts on
    the embeddings and the shortcut (drop_rate where drop_rate_emb or drop_rate_shortcut is null). The
    values are not checked here: the settings' schema checks them."""
    nodes = {f.metadata["key"].split(".")[0] for f in RunAxes.fields()}  # only these: run_name reads this
    axes_config = {node: config.get(node) for node in nodes}
    model = axes_config.get("model") or {}
    sizes = ModelConfig.model_construct(**{k: v for k, v in model.items() if k in ModelConfig.model_fields})
    return RunAxes.read({**axes_config, "model": sizes})
