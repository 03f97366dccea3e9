"""The exceptions attention-lab shows the user as one line, saying what went wrong and what to do, and the
form of that line for a setting: `<setting>=<value> is not allowed: <what is allowed>`."""

from __future__ import annotations

from typing import Any


class AttentionLabError(Exception):
    """A failure the user can act on; every command line prints its message as `error: <message>`."""


class ConfigError(AttentionLabError, ValueError):
    """A setting, file or checkpoint the user gave is unusable; the message says which and what is allowed."""


class TrainingDivergedError(AttentionLabError, RuntimeError):
    """The loss became NaN or infinite during training: the settings (usually the learning rate) diverge."""


class CausalityError(AttentionLabError):
    """A variant meant to be causal lets an output see a later input: the leak probe refuses to train it."""


class DiskFullError(AttentionLabError, OSError):
    """The disk ran out of space while the run wrote its logs; the message says where and what to do."""


def shown(value: Any) -> str:
    """A value as it is typed on the command line: null, true, 0.1, text ('' when empty)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return value if value.strip() and value == value.strip() else repr(value)
    return str(value)


def refusal(setting: str, value: Any, reason: str, given: str = "") -> str:
    """The one line for a refused value, e.g. `attention.window=0 is not allowed: it must be ...`; `given`
    names the other setting that makes it wrong (`... is not allowed with model.n_heads=4: ...`)."""
    return f"{setting}={shown(value)} is not allowed{f' with {given}' if given else ''}: {reason}"
