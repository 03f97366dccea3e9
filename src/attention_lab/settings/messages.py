"""One line, `<setting>=<value> is not allowed: <what is allowed> (<what it is>)`, whoever refuses the value:
the schema (pydantic), OmegaConf (an interpolation), a Lightning class as it is built (signature, checks)."""

from __future__ import annotations

import inspect
import re
import traceback
import typing
from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from attention_lab.errors import ConfigError, refusal


def checked(schema: type[BaseModel], cfg: DictConfig) -> Any:
    """`cfg` as `schema`, or ConfigError: the first refused setting typed, before those that copy it."""
    try:
        values = OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as err:
        raise ConfigError(f"{err.full_key} is not allowed: {str(err).splitlines()[0]}") from None
    try:
        return schema.model_validate(values)
    except ValidationError as err:
        def is_copy(error: ErrorDetails) -> bool:
            parent, _, key = setting_of(error, values)[0].rpartition(".")
            node = OmegaConf.select(cfg, parent) if parent else cfg
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


def reason(errors: list[ErrorDetails]) -> str:
    """What is allowed, from pydantic's messages (one per member of a union) or a validator's own."""
    said = [e["msg"].removeprefix("Value error, ").replace("Input should be", "it must be") for e in errors]
    musts = [m[len("it must be ") :].replace("None", "null") for m in said if m.startswith("it must be ")]
    own = [m for m in said if not m.startswith("it must be ")]
    return "; ".join([*own, *([f"it must be {' or '.join(dict.fromkeys(musts))}"] if musts else [])])


def first_line(errors: list[ErrorDetails], schema: type[BaseModel], values: Any) -> str:
    first = errors[0]
    if first["type"] == "refused":  # a rule across settings: its line is written where it is checked
        return first["ctx"]["line"]
    setting, value = setting_of(first, values)
    *path, name = setting.split(".")
    for depth, part in enumerate(path, 1):  # down to the model (config group) that declares the setting
        field = schema.model_fields.get(part) if schema else None
        kinds = models_in(field.annotation) if field else []
        below = path[depth] if depth < len(path) else name  # of a union (data), the member that has it
        schema = next((k for k in kinds if below in k.model_fields), kinds[0] if kinds else None)
    fields = schema.model_fields if schema else {}
    if first["type"] == "extra_forbidden":
        group = ".".join(path) or "the config"
        return f"{setting} is not allowed: it is not a setting of {group} (those are: {', '.join(fields)})"
    field = next((f for key, f in fields.items() if name in (key, f.alias)), None)
    meaning = f" ({field.description})" if field and field.description else ""
    same = [e for e in errors if setting_of(e, values)[0] == setting]  # one per member of a union
    return refusal(setting, value, reason(same) + meaning)


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """The settings models an annotation names: itself, or the members of a union (Annotated or not)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in models_in(arg)]


def check_arguments(setting: str, arguments: Mapping[str, Any], target: type) -> None:
    """Each argument a parameter of `target`, of the type (and range) its signature annotates."""
    parameters = inspect.signature(target).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    try:
        hints = typing.get_type_hints(target.__init__, include_extras=True)
    except NameError:  # names imported only for type checkers: then the names alone are checked
        hints = {}
    types = ConfigDict(arbitrary_types_allowed=True, strict=True)
    where = f"{target.__module__}.{target.__name__}"
    for key, value in arguments.items():
        if key not in parameters and not key.startswith("_") and not takes_any:  # _target_: Hydra's
            raise ConfigError(f"{setting}.{key} is not allowed: it is not an argument of {where}")
        try:
            TypeAdapter(hints.get(key, Any), config=types).validate_python(value)
        except ValidationError as err:
            meaning = "".join(f" ({m.description})" for m in getattr(hints[key], "__metadata__", ())[:1])
            raise ConfigError(refusal(f"{setting}.{key}", value, reason(err.errors()) + meaning)) from None


def refused_by_lightning(setting: str, arguments: Mapping, err: Exception, by_value: bool = True) -> Any:
    """Lightning's refusal as one line, naming the argument it names first (or by text value); else None."""
    frames = [frame for frame, _ in traceback.walk_tb(err.__traceback__)]
    in_lightning = bool(frames) and frames[-1].f_globals.get("__name__", "").startswith("lightning")
    kinds = {kind.__name__ for kind in type(err).__mro__}  # Lightning's refusals, by name: no import here
    if not in_lightning or not kinds & {"ValueError", "TypeError", "MisconfigurationException"}:
        return None
    message = " ".join(str(err).split())
    words = [(0, key, key) for key in arguments]
    words += [(1, str(value), key) for key, value in arguments.items() if by_value and isinstance(value, str)]
    named = sorted((rank, found.start(), key) for rank, word, key in words
                   if (found := re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", message)))  # fmt: skip
    if not named:
        return ConfigError(f"{setting} is not allowed: {message}") if by_value else None
    return ConfigError(refusal(f"{setting}.{named[0][2]}", arguments[named[0][2]], message))
