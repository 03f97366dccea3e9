"""What a setting may be: one `Rule` each (a test of the value, the allowed values in words, and a value it
rejects, which the tests and docs/troubleshooting.md use), and the walk that applies a table of them
(setting → Rule or FreeForm) to a composed config. The tables are in `attention_lab.checks`."""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from attention_lab.errors import ConfigError


@dataclass(frozen=True)
class Rule:
    """`accepts(value)` is True for an allowed value; `allowed` completes "it must be ..."."""

    allowed: str
    accepts: Callable[[Any], bool]
    bad_example: Any
    why_not: Callable[[Any], str | None] | None = None  # a message of its own for some rejected values
    imports: bool = False  # checking a value imports modules (Lightning, a class the config names)


@dataclass(frozen=True)
class FreeForm:
    """A setting any value of which is fine (or that is checked under another name); `why` says which."""

    why: str


def shown(value: Any) -> str:
    """A value as it is typed on the command line: null, true, 0.1, text ('' when empty)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return value if value.strip() and value == value.strip() else repr(value)
    return str(value)


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def whole(minimum: int, maximum: int | None = None, *, meaning: str) -> Rule:
    top = "" if maximum is None else f" and <= {maximum}"
    return Rule(
        f"a whole number >= {minimum}{top} ({meaning})",
        lambda v: is_int(v) and v >= minimum and (maximum is None or v <= maximum),
        minimum - 1,
    )


def number(
    low: float, *, low_open: bool, high: float | None = None, high_open: bool = True, meaning: str
) -> Rule:
    if high is None:
        words = f"a number {'>' if low_open else '>='} {low:g}"
    else:
        words = f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def accepts(v: object) -> bool:
        if not is_number(v):
            return False
        above = v > low if low_open else v >= low
        below = high is None or (v < high if high_open else v <= high)
        return above and below

    return Rule(f"{words} ({meaning})", accepts, low - 1)


def fraction(*, allow_zero: bool, meaning: str) -> Rule:
    return number(0.0, low_open=not allow_zero, high=1.0, meaning=meaning)


def boolean(meaning: str) -> Rule:
    return Rule(f"true or false ({meaning})", lambda v: isinstance(v, bool), "maybe")


def choice(options: Sequence[Any], meaning: str) -> Rule:
    listed = ", ".join(dict.fromkeys(shown(o) for o in options))  # 32 and "32" read the same
    return Rule(
        f"one of {listed} ({meaning})", lambda v: not isinstance(v, bool) and v in options, "nonsense"
    )


def either(first: Rule, second: Rule) -> Rule:
    return Rule(
        f"{first.allowed}, or {second.allowed}",
        lambda v: first.accepts(v) or second.accepts(v),
        "nonsense",
        imports=first.imports or second.imports,
    )


def null_or(rule: Rule) -> Rule:
    return Rule(
        f"null or {rule.allowed}",
        lambda v: v is None or rule.accepts(v),
        rule.bad_example,
        imports=rule.imports,
    )


# Names that become directory names (logs/<experiment_name>/<run_name>): no separators, no `..`.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=+,@-]*")


def safe_name(meaning: str) -> Rule:
    return Rule(
        f"a name of letters, digits and . _ = + , @ - that starts with a letter or digit ({meaning})",
        lambda v: isinstance(v, (str, int)) and not isinstance(v, bool) and bool(SAFE_NAME.fullmatch(str(v))),
        "../a b",
    )


def importable(meaning: str) -> Rule:
    """A dotted path to a class or function that imports, as hydra.utils.instantiate needs."""

    def accepts(v: object) -> bool:
        if not isinstance(v, str) or not v:
            return False
        module, _, name = v.rpartition(".")
        try:  # importlib, not hydra's lookup, which logs each failure
            return bool(module) and hasattr(importlib.import_module(module), name)
        except (ImportError, ValueError):
            return False

    return Rule(f"the dotted path of an importable class ({meaning})", accepts, "no.such.Class", imports=True)


def directory_path(meaning: str) -> Rule:
    """A directory, or a path where one can be made: not an existing file."""
    return Rule(
        f"a directory, or a path where one can be made, not a file ({meaning})",
        lambda v: isinstance(v, str) and bool(v) and (not Path(v).exists() or Path(v).is_dir()),
        "/dev/null",
    )


def existing_directory(meaning: str) -> Rule:
    return Rule(
        f"an existing directory ({meaning})",
        lambda v: isinstance(v, str) and bool(v) and Path(v).is_dir(),
        "/no/such/directory",
    )


def text(meaning: str) -> Rule:
    return Rule(f"some text ({meaning})", lambda v: isinstance(v, str) and bool(v.strip()), "")


def sha256_hex(meaning: str) -> Rule:
    return Rule(
        f"null or 64 hexadecimal digits ({meaning})",
        lambda v: v is None or (isinstance(v, str) and bool(re.fullmatch(r"[0-9a-fA-F]{64}", v))),
        "abc",
    )


def url(meaning: str) -> Rule:
    return Rule(
        f"null or a URL starting with https://, http:// or file:// ({meaning})",
        lambda v: v is None or (isinstance(v, str) and v.startswith(("https://", "http://", "file://"))),
        "ftp:/nowhere",
    )


Table = dict[str, Rule | FreeForm]


def leaves(node: Any, prefix: str = "") -> Iterator[str]:
    """Dotted names of the leaves of a config (list items by index), without resolving interpolations."""
    container = OmegaConf.to_container(node, resolve=False) if OmegaConf.is_config(node) else node
    items = container.items() if isinstance(container, dict) else enumerate(container)
    for key, value in items:
        name = f"{prefix}{key}"
        if isinstance(value, (dict, list)) and value:
            yield from leaves(value, name + ".")
        else:
            yield name


def copies_last(cfg: DictConfig) -> list[str]:
    """The leaves, those that copy another setting (`${...}`) after the rest: a bad value is reported
    under the name it was given, not under a name that copies it."""

    def is_copy(key: str) -> bool:
        node: Any = cfg
        for part in key.split("."):
            node = node._get_node(int(part) if OmegaConf.is_list(node) else part)
        return OmegaConf.is_interpolation(node)

    return sorted(leaves(cfg), key=is_copy)


def rule_for(table: Table, key: str) -> Rule | FreeForm | None:
    """The table entry for `key`: the exact name first, then the pattern with the fewest `*`."""
    if key in table:
        return table[key]
    parts = key.split(".")
    matches = [
        pattern
        for pattern in table
        if len(pattern.split(".")) == len(parts)
        and all(fnmatch.fnmatchcase(p, q) for p, q in zip(parts, pattern.split("."), strict=True))
    ]
    return table[min(matches, key=lambda p: p.count("*"))] if matches else None


def check_value(key: str, value: Any, rule: Rule) -> None:
    if not rule.accepts(value):
        problem = rule.why_not(value) if rule.why_not else None
        raise ConfigError(
            f"{key}={shown(value)} {problem}"
            if problem
            else f"{key}={shown(value)} is not allowed: it must be {rule.allowed}"
        )


def check_targets_arguments(cfg: DictConfig) -> None:
    """Keys beside a `_target_` must be arguments of the class it names (a typo would be a TypeError)."""
    from hydra.utils import get_object

    def visit(node: Any, prefix: str) -> None:
        if OmegaConf.is_dict(node):
            target = node.get("_target_")
            if isinstance(target, str):
                parameters = inspect.signature(get_object(target)).parameters
                takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
                for key in node:
                    if not str(key).startswith("_") and key not in parameters and not takes_any:
                        names = ", ".join(p for p in parameters if p not in ("self", "args", "kwargs"))
                        raise ConfigError(
                            f"{prefix}{key} is not allowed: it is not an argument of {target} "
                            f"(those are: {names})"
                        )
            for key in node:
                visit(node._get_node(key), f"{prefix}{key}.")
        elif OmegaConf.is_list(node):
            for index in range(len(node)):
                visit(node._get_node(index), f"{prefix}{index}.")

    for group in ("trainer", "logger", "data", "module", "callbacks"):
        if group in cfg:
            visit(cfg._get_node(group), f"{group}.")


def check_table(cfg: DictConfig, table: Table, *, importing: bool = True) -> None:
    """Every leaf with a Rule in `table` holds an allowed value (leaves the table does not name pass);
    `importing=False` leaves out the rules that import modules to check a value."""
    for key in copies_last(cfg):
        rule = rule_for(table, key)
        if isinstance(rule, Rule) and (importing or not rule.imports):
            check_value(key, OmegaConf.select(cfg, key, throw_on_missing=False), rule)
