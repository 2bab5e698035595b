"""Units and names that the tables and the figures share, so both say the same of the same runs.

A time unit is chosen from the longest duration it has to show, so that a table column and a
figure axis of an experiment never read 0.01 h or 9,000 s, and never disagree with each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

TIMES = "\u00d7"  # multiplication sign of speedups and grid shapes
METRIC_NAMES = {"top1": "Top-1 (%)", "top5": "Top-5 (%)", "mAP": "mAP (%)"}


@dataclass(frozen=True)
class TimeUnit:
    """A unit of time: ``symbol`` for table headers, ``name`` for axis labels, its length."""

    symbol: str
    name: str
    seconds: float


SECONDS = TimeUnit("s", "seconds", 1.0)
MINUTES = TimeUnit("min", "minutes", 60.0)
HOURS = TimeUnit("h", "hours", 3600.0)


def time_unit(seconds: Sequence[float]) -> TimeUnit:
    """The unit for durations up to ``max(seconds)``: hours from 2 h on, minutes from 2 min on.

    >>> [time_unit(s).symbol for s in ([], [119.0], [120.0, 5.0], [7200.0])]
    ['s', 's', 'min', 'h']
    """
    top = max(seconds, default=0.0)
    return HOURS if top >= 7200 else MINUTES if top >= 120 else SECONDS
