"""The run's event log: one append-only JSON-lines file, written by rank 0 only.

Every line is one object with ``event`` (a name below), ``time_s`` (Unix time) and the event's
fields. Names and required fields are constants here, so a typo fails loudly instead of writing
a line no reader expects, and :func:`read_events` is the only parser (it tolerates a torn last
line, which is what a killed job leaves). Resume stays exact by cutting the log back to the byte
offset recorded in the checkpoint before appending: epochs redone after a restart never appear
twice.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

RUN_START = "run_start"
PHASE = "phase"
TRAIN = "train"
EPOCH = "epoch"
EVAL = "eval"
CURVE = "curve"  # a curve point: test-shape accuracy at a fraction of the baseline's compute
CHECKPOINT = "checkpoint"
RUN_END = "run_end"

# Fields every event of a kind must carry (more are allowed).
REQUIRED: dict[str, frozenset[str]] = {
    RUN_START: frozenset(
        {"config", "git_sha", "git_dirty", "versions", "device", "seed", "resumed"}
    ),
    PHASE: frozenset({"epoch", "phase", "num_frames", "crop_size", "batch_size", "bn"}),
    TRAIN: frozenset(
        {
            "epoch",
            "step",
            "loss",
            "lr",
            "num_frames",
            "crop_size",
            "batch_size",
            "data_time_s",
            "compute_time_s",
            "clips_per_s",
        }
    ),
    EPOCH: frozenset({"epoch", "step", "loss", "wall_s", "clips"}),
    EVAL: frozenset({"epoch", "step", "metrics"}),
    CURVE: frozenset(
        {"epoch", "iteration", "step", "fraction", "metrics", "train_s", "total_s", "eval_s"}
    ),
    CHECKPOINT: frozenset({"epoch", "step", "path"}),
    RUN_END: frozenset({"epoch", "step", "metrics", "wall_s", "train_gflops"}),
}

# Fields written today that logs of older code lack, so readers must not require them. Times
# are seconds. ``wall_s`` counts from each job's training clock (after set-up and FLOP counting);
# ``total_s`` is the job wall-clock from each job's process start, earlier jobs included.
ADDED: dict[str, frozenset[str]] = {
    RUN_START: frozenset({"startup_s", "init_weights"}),  # init_weights: fine-tuning only
    EPOCH: frozenset({"epoch_s", "stats_s", "total_s"}),  # loop alone; precise BN; job clock
    EVAL: frozenset({"wall_s", "eval_s", "total_s"}),  # eval_s: this evaluation
    RUN_END: frozenset({"total_s", "setup_s", "test_s"}),  # setup_s: before training clocks
}


class EventWriter:
    """Append events to ``path``; a no-op on ranks other than 0.

    Args:
        path: the run's ``events.jsonl``.
        enabled: False on non-zero ranks, so only one process writes.
    """

    def __init__(self, path: Path, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled
        self._file = None
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open

    def offset(self) -> int:
        """Current size of the log in bytes (stored in checkpoints for exact resume)."""
        return self._file.tell() if self._file is not None else 0

    def cut(self, offset: int) -> None:
        """Drop everything written after ``offset`` (events of work a stop abandoned)."""
        if self._file is not None and self._file.tell() > offset:
            self._file.flush()
            self._file.truncate(offset)
            self._file.seek(offset)

    def write(self, event: str, **fields: Any) -> dict[str, Any]:
        """Validate and append one event; returns the record written."""
        if event not in REQUIRED:
            raise ValueError(f"unknown event {event!r}; one of {', '.join(REQUIRED)}")
        missing = REQUIRED[event] - fields.keys()
        if missing:
            raise ValueError(f"event {event!r} lacks {', '.join(sorted(missing))}")
        record = {"event": event, "time_s": time.time(), **fields}
        if self._file is not None:
            self._file.write(json.dumps(record, default=_jsonable, allow_nan=False) + "\n")
            self._file.flush()
        return record

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Flush to disk and close."""
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            self._file = None


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to the event log")


def truncate_log(path: Path, offset: int) -> None:
    """Cut the log back to ``offset`` bytes (events after a checkpoint are about to be redone)."""
    path = Path(path)
    if path.exists() and path.stat().st_size > offset:
        with open(path, "r+b") as f:
            f.truncate(offset)


def read_events(path: Path) -> list[dict[str, Any]]:
    """All events of a log, in order.

    A torn last line (a killed writer) is skipped; a bad line elsewhere is an error naming the
    file and line.
    """
    events = []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break
            raise ValueError(f"{path}: line {number}: not a JSON event") from None
        events.append(record)
    return events


def finite(value: float) -> float | None:
    """A float for the log: NaN and infinities become null (JSON has no NaN)."""
    return value if math.isfinite(value) else None
