"""The exceptions attention-lab shows the user as one line, saying what went wrong and what to do."""

from hydra.errors import CompactHydraException


class AttentionLabError(Exception):
    """A failure the user can act on; every command line prints its message as `error: <message>`."""


class ConfigError(AttentionLabError, ValueError):
    """A setting, file or checkpoint the user gave is unusable; the message says which and what is allowed."""


class TrainingDivergedError(AttentionLabError, RuntimeError):
    """The loss became NaN or infinite during training: the settings (usually the learning rate) diverge."""


class DiskFullError(AttentionLabError, OSError):
    """The disk ran out of space while the run wrote its logs; the message says where and what to do."""


class SweepJobError(CompactHydraException):
    """An AttentionLabError in one job of a multirun. Hydra runs the remaining jobs, then prints the first
    such message (without a stack trace, as for its own config errors) and exits with status 1."""
