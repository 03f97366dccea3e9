"""One line, `<setting>=<value> is not allowed: <what is allowed> (<what it is>)`, built from the structure of
a refusal: a validation error's type, location and context (pydantic's, or the project's own `rule` and
`refused`), the description of the field, and OmegaConf's message where an interpolation cannot resolve.
No library's wording is rewritten: a type this table does not know shows pydantic's message as it is."""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from attention_lab.errors import ConfigError, refusal

# What a value must be, by the type of the error that refused it ({bound}: a number of its context).
MUST_BE = {
    "greater_than": "greater than {gt}",
    "greater_than_equal": "greater than or equal to {ge}",
    "less_than": "less than {lt}",
    "less_than_equal": "less than or equal to {le}",
    "literal_error": "{expected}",
    "bool_type": "a valid boolean",
    "int_type": "a valid integer",
    "float_type": "a valid number",
    "finite_number": "a finite number",
    "string_type": "a valid string",
    "dict_type": "a valid dictionary",
    "list_type": "a valid list",
    "none_required": "null",
    "too_short": "a list of at least {min_length}",
    "union_tag_invalid": "one of {expected_tags}",
}


def must_be(error: ErrorDetails) -> str | None:
    """What the error says the value must be, from its type and context; None for a type not in MUST_BE."""
    form, context = MUST_BE.get(error["type"]), error.get("ctx", {})
    return None if form is None else form.format(**{k: f"{v:g}" if isinstance(v, float) else v
                                                    for k, v in context.items()})  # fmt: skip


def reason(errors: list[ErrorDetails]) -> str:
    """What is allowed: a rule's own reason, or what the value must be (one per member of a union)."""
    own = [e["ctx"]["reason"] for e in errors if e["type"] == "rule"]
    musts = [must for e in errors if e["type"] != "rule" and (must := must_be(e)) is not None]
    verbatim = [e["msg"] for e in errors if e["type"] != "rule" and must_be(e) is None]
    must = [f"it must be {' or '.join(dict.fromkeys(musts))}"] if musts else []
    return "; ".join([*own, *must, *verbatim])


def checked(schema: type[BaseModel], cfg: DictConfig | Mapping, **context: Any) -> Any:
    """`cfg` as `schema`, or ConfigError: the first refused setting typed, before those that copy it.
    `context`: the validation context (saved=True: a finished run's settings, its paths not looked at)."""
    try:
        values = OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else dict(cfg)
    except OmegaConfBaseException as err:
        raise ConfigError(f"{err.full_key} is not allowed: {str(err).splitlines()[0]}") from None
    try:
        return schema.model_validate(values, context=context)
    except ValidationError as err:
        def is_copy(error: ErrorDetails) -> bool:
            parent, _, key = setting_of(error, values)[0].rpartition(".")
            node = OmegaConf.select(cfg, parent) if parent and OmegaConf.is_config(cfg) else cfg
            return OmegaConf.is_config(node) and key in node and OmegaConf.is_interpolation(node, key)

        raise ConfigError(first_line(sorted(err.errors(), key=is_copy), schema, values)) from None


def setting_of(error: ErrorDetails, values: Any) -> tuple[str, Any]:
    """The setting an error is about and its value (a location also holds the names of union members)."""
    parts, node = [], values
    for part in error["loc"]:
        if isinstance(node, dict) and part in node or isinstance(node, list) and isinstance(part, int):
            parts, node = [*parts, str(part)], node[part]
        elif error["type"] == "missing":
            parts.append(str(part))
    return ".".join(parts), node


def first_line(errors: list[ErrorDetails], schema: type[BaseModel], values: Any) -> str:
    first = errors[0]
    if first["type"] == "refused":  # a rule across settings: its line is written where it is checked
        return first["ctx"]["line"]
    setting, value = setting_of(first, values)
    if first["type"] == "union_tag_invalid":  # the discriminator of a union names the member: data.kind
        discriminator = first["ctx"]["discriminator"].strip("'")
        setting, value = f"{setting}.{discriminator}", first["ctx"]["tag"]
    *path, name = setting.split(".")
    node = values
    for part in path:  # down to the model (config group) that declares the setting
        field = schema.model_fields.get(part) if schema else None
        node = node.get(part) if isinstance(node, dict) else None
        schema = member(models_in(field.annotation) if field else [], node)
    fields = schema.model_fields if schema else {}
    if first["type"] == "extra_forbidden":
        group = ".".join(path) or "the config"
        return f"{setting} is not allowed: it is not a setting of {group} (those are: {', '.join(fields)})"
    field = next((f for key, f in fields.items() if name in (key, f.alias)), None)
    meaning = f" ({field.description})" if field and field.description else ""
    if first["type"] == "missing":
        return f"{setting} is missing: give it a value{meaning}"
    same = [e for e in errors if setting_of(e, values)[0] == setting] or [first]  # one per member of a union
    return refusal(setting, value, reason(same) + meaning)


def member(kinds: list[type[BaseModel]], node: Any) -> type[BaseModel] | None:
    """Of the models of a union (data: TextData or RecallData), the one whose `kind` the node names."""
    named = [k for k in kinds if isinstance(node, dict) and "kind" in k.model_fields
             and node.get("kind") in typing.get_args(k.model_fields["kind"].annotation)]  # fmt: skip
    return (named or kinds or [None])[0]


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The settings models an annotation names: itself, or the members of a union (Annotated or not)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in models_in(arg)]
