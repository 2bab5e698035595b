"""The one error of a bad config, profile or annotation file: one line naming source and key.

Raised by the config loader, the schedule (what only it can tell), the data readers and the
SLURM profiles alike, so every command turns it into ``error: SOURCE: KEY: MESSAGE`` and exit 2.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration that cannot be run, reported as one line naming the source and the key.

    Args:
        key: dotted key at fault (``solver.steps``), or ``""`` when the whole file is at fault.
        message: what is wrong, in a few words.
        source: the file (or ``--set`` override) the value came from; filled in by the loader.
    """

    def __init__(self, key: str, message: str, source: str = "") -> None:
        self.key = key
        self.message = message
        self.source = source
        super().__init__(str(self))

    def with_source(self, source: str) -> ConfigError:
        """Return a copy that names ``source``, unless a more precise source is already set."""
        return ConfigError(self.key, self.message, self.source or source)

    def __str__(self) -> str:
        parts = [p for p in (self.source, self.key, self.message) if p]
        return ": ".join(parts)
