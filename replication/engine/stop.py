"""Stopping a training at a safe point when the job is asked to (preemption, time limit).

SLURM warns a job with USR2 before a time limit or on preemption; the job then has a minute or
two to save its state and requeue. Training stops at whichever point comes next, wherever it
is: between two iterations (the rule every rank agrees on), or inside the long stretches that
have no iterations (building the frame cache, counting FLOPs, precise BN, evaluation, the final
test), where this process stops alone (other ranks are killed by the requeue; only rank 0
writes files). :func:`replication.engine.loop.train` then writes the state reached, if it moved
since the last checkpoint, and returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class StopRequested(Exception):
    """Raised at a safe point after the job was asked to stop; the loop saves and returns."""


def never() -> bool:
    """No stop is ever requested (in-process training without a scheduler)."""
    return False


@dataclass(frozen=True)
class Stopper:
    """When training stops.

    Args:
        at_iteration: asked after every iteration, on every rank at the same iteration (with
            several processes it is a collective that every rank answers alike).
        requested: whether this process was asked to stop; cheap, asked anywhere else.
    """

    at_iteration: Callable[[], bool] = never
    requested: Callable[[], bool] = never

    def poll(self) -> None:
        """Raise :class:`StopRequested` if this process was asked to stop."""
        if self.requested():
            raise StopRequested

    def polled(self, items: Iterable[T]) -> Iterator[T]:
        """``items``, polling before each one (a loop over batches that a stop can end)."""
        for item in items:
            self.poll()
            yield item
