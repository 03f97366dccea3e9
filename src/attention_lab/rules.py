"""What a setting may be, for every settings model of the project (the data's, the model's, the run's).

`rule(kind, test, allowed, bad)` makes a type whose refused values carry what is allowed as structure (error
type `rule`, its `allowed` in the context); `refused(setting, value, reason, given)` is a broken rule across
settings, carrying its whole line. attention_lab.settings.messages turns either into the one line a user
reads. `bad` is a value the rule refuses: docs/troubleshooting.md shows what it prints.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, ConfigDict, Field, ValidationInfo
from pydantic_core import PydanticCustomError

from attention_lab.errors import refusal

# Settings models refuse keys they do not know, values of another type (no "1" for 1) and inf/NaN.
CHECKED = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)


def rule(kind: Any, test: Callable[[Any], Any], allowed: str | Callable[[Any], str], bad: Any, *,
         on_disk: bool = False) -> Any:  # fmt: skip
    """`kind` values that pass `test`; a refused one is told `it must be <allowed>` (or `allowed(value)`,
    a whole reason). A rule `on_disk` looks at files; it is not applied to the settings of a finished run
    (validation context saved=True): they were checked when it ran, and its folders may have moved since."""

    def check(value: Any, info: ValidationInfo) -> Any:
        if on_disk and (info.context or {}).get("saved"):
            return value
        if not test(value):
            reason = allowed(value) if callable(allowed) else f"it must be {allowed}"
            raise PydanticCustomError("rule", "{reason}", {"reason": reason})
        return value

    return Annotated[kind, AfterValidator(check), Field(json_schema_extra={"bad": bad})]


def refused(setting: str, value: Any, reason: str, given: str = "") -> PydanticCustomError:
    """A broken rule across settings (or a value only reading a file can refuse), as an error that carries
    its line: refusal(setting, value, reason, given)."""
    return refused_line(refusal(setting, value, reason, given))


def refused_line(line: str) -> PydanticCustomError:
    """A one-line refusal met while checking (a ConfigError of reading a file), as a validation error."""
    return PydanticCustomError("refused", "{line}", {"line": line})


Name = rule(str | int, lambda v: re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._=+,@-]*", str(v)),
            "letters, digits and . _ = + , @ -, starting with a letter or digit", "../a")  # fmt: skip
Text = rule(str, str.strip, "some text", "")
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
LOGS = "it names a directory under logs/"


def whole(value: Any, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def share(value: Any, zero: bool) -> bool:
    return isinstance(value, float) and (value >= 0.0 if zero else value > 0.0) and value <= 1.0


Batches = rule(int | float | None, lambda v: v is None or whole(v, 0) or share(v, zero=True),
               "a whole number of batches >= 0, a share of them in [0.0, 1.0] or null", 1.5)  # fmt: skip
Interval = rule(int | float | str | dict | None,
                lambda v: v is None or isinstance(v, str | dict) or whole(v, 1) or share(v, zero=False),
                "a whole number of batches >= 1, a share of an epoch in (0.0, 1.0], a time or null",
                0)  # fmt: skip
