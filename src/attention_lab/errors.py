"""The one exception type attention-lab raises for bad input: its message is shown to the user as is."""

from hydra.errors import CompactHydraException


class ConfigError(ValueError):
    """A setting, file or checkpoint the user gave is unusable; the message says which and what is allowed."""


class NonFiniteLossError(ConfigError):
    """The loss became NaN or infinite during training: the settings (usually the learning rate) diverge."""


class SweepJobError(CompactHydraException):
    """A ConfigError in one job of a multirun. Hydra runs the remaining jobs, then prints the first such
    message (without a stack trace, as for its own config errors) and exits with status 1."""
