"""The one error of a bad config, profile or annotation file: one line naming source and key.

Raised by the config loader, the schedule (what only it can tell), the data readers and the
SLURM profiles alike, so every command turns it into ``error: SOURCE: KEY: MESSAGE`` and exit 2.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Sequence
from typing import Any


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


def unknown_key_message(key: str, known: Sequence[str]) -> str:
    """``unknown key``, with the closest known key as a hint.

    >>> unknown_key_message("solver.max_epochs", ["solver.max_epoch", "solver.steps"])
    'unknown key (did you mean solver.max_epoch?)'
    """
    close = difflib.get_close_matches(key, list(known), n=1)
    return f"unknown key{f' (did you mean {close[0]}?)' if close else ''}"


def from_validation_error(err: dict[str, Any], known: Sequence[str]) -> ConfigError:
    """A pydantic error record (``ValidationError.errors()[i]``) as a one-line ConfigError.

    Args:
        err: the record: ``loc``, ``type``, ``msg``, ``input``.
        known: every valid dotted key, for the hint on an unknown one.
    """
    loc = err["loc"]
    if err["type"] == "missing" and loc and isinstance(loc[-1], int):
        # A short list: name the list, not the index pydantic found empty.
        return ConfigError(".".join(str(p) for p in loc[:-1]), "too few values")
    key = ".".join(str(p) for p in loc)
    if err["type"] == "extra_forbidden":
        return ConfigError(key, unknown_key_message(key, known))
    value = err.get("input")
    got = "" if isinstance(value, dict) else f", got {value!r}"
    return ConfigError(key, f"{err['msg'][0].lower()}{err['msg'][1:]}{got}")


def run_command(
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    expected: tuple[type[Exception], ...] = (ConfigError,),
) -> int:
    """Parse ``argv`` and run the chosen subcommand (its ``func``); returns the exit code.

    Every command line of the suite reports bad input the same way: one line ``error: ...`` on
    stderr and exit code 2, for the ``expected`` errors (the input's fault); anything else is
    a bug and keeps its traceback.
    """
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except expected as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
