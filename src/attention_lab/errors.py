"""The one exception type attention-lab raises for bad input: its message is shown to the user as is."""


class ConfigError(ValueError):
    """A setting, file or checkpoint the user gave is unusable; the message says which and what is allowed."""


class NonFiniteLossError(ConfigError):
    """The loss became NaN or infinite during training: the settings (usually the learning rate) diverge."""
