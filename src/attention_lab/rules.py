"""What a setting may be: one `Rule` each (a test of the value, the allowed values in words, and a value it
rejects, which the tests and docs/troubleshooting.md use). The table of which setting follows which rule
is in `attention_lab.checks`."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Rule:
    """`accepts(value)` is True for an allowed value; `allowed` completes "it must be ..."."""

    allowed: str
    accepts: Callable[[Any], bool]
    bad_example: Any
    why_not: Callable[[Any], str | None] | None = None  # a message of its own for some rejected values


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
        f"{first.allowed}, or {second.allowed}", lambda v: first.accepts(v) or second.accepts(v), "nonsense"
    )


def null_or(rule: Rule) -> Rule:
    return Rule(f"null or {rule.allowed}", lambda v: v is None or rule.accepts(v), rule.bad_example)


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
        from hydra.utils import get_object

        if not isinstance(v, str) or not v:
            return False
        try:
            get_object(v)
        except Exception:  # ImportError, AttributeError, ValueError: all mean "not there"
            return False
        return True

    return Rule(f"the dotted path of an importable class ({meaning})", accepts, "no.such.Class")


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
