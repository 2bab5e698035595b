"""Where a run keeps its files: every path convention in one place (submitit's JobPaths idea).

Nothing else builds a path inside a run folder: the engine writes through these names, the
launcher and the results side read through them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_CHECKPOINT = re.compile(r"checkpoint_epoch(\d{5})(?:_iter(\d{7}))?\.pt$")


def checkpoint_name(epoch: int, iteration: int | None = None) -> str:
    """File name of the checkpoint taken after ``epoch`` (or inside it, at ``iteration``).

    >>> checkpoint_name(12), checkpoint_name(3, 250)
    ('checkpoint_epoch00012.pt', 'checkpoint_epoch00003_iter0000250.pt')
    """
    suffix = "" if iteration is None else f"_iter{iteration:07d}"
    return f"checkpoint_epoch{epoch:05d}{suffix}.pt"


def checkpoint_position(path: Path) -> tuple[int, int] | None:
    """(epoch, iteration) where training continues from a checkpoint file; None for other files.

    >>> checkpoint_position(Path("checkpoint_epoch00003_iter0000040.pt"))
    (3, 40)
    """
    match = _CHECKPOINT.search(path.name)
    return (int(match[1]), int(match[2]) if match[2] else 0) if match else None


@dataclass(frozen=True)
class RunPaths:
    """Files of one training run under ``root``."""

    root: Path

    @property
    def config(self) -> Path:
        """The resolved config, written before the first step."""
        return self.root / "config.json"

    @property
    def events(self) -> Path:
        """The append-only JSON-lines event log."""
        return self.root / "events.jsonl"

    @property
    def checkpoints(self) -> Path:
        """Folder of checkpoints."""
        return self.root / "checkpoints"

    @property
    def summary(self) -> Path:
        """Final metrics, written last: its presence marks a finished run."""
        return self.root / "summary.json"

    @property
    def bad_videos(self) -> Path:
        """Manifest of videos the loader could not decode."""
        return self.root / "bad_videos.csv"

    @property
    def submitit(self) -> Path:
        """Job folder of submitit (logs, pickles) when launched through it."""
        return self.root / "submitit"

    def checkpoint(self, epoch: int, iteration: int | None = None) -> Path:
        """The checkpoint after ``epoch``, or inside it after ``iteration`` batches."""
        return self.checkpoints / checkpoint_name(epoch, iteration)

    def latest_checkpoint(self) -> Path | None:
        """The most advanced checkpoint (by epoch, then iteration), or None.

        Names say where training continues (as the training loop writes them): ``epoch00003`` is
        the start of epoch 3, before ``epoch00003_iter0000040`` (a preemption inside epoch 3).

        >>> import tempfile
        >>> paths = RunPaths(Path(tempfile.mkdtemp()))
        >>> paths.checkpoints.mkdir()
        >>> for name in ("checkpoint_epoch00003.pt", "checkpoint_epoch00003_iter0000040.pt",
        ...              "checkpoint_epoch00002_iter0000090.pt"):
        ...     _ = (paths.checkpoints / name).write_bytes(b"")
        >>> paths.latest_checkpoint().name
        'checkpoint_epoch00003_iter0000040.pt'
        """
        newest = self.checkpoints_newest_first()
        return newest[0] if newest else None

    def checkpoints_newest_first(self) -> list[Path]:
        """Every checkpoint, the most advanced first (resume falls back along this list)."""
        if not self.checkpoints.is_dir():
            return []
        found = [(pos, p) for p in self.checkpoints.glob("checkpoint_epoch*.pt")
                 if (pos := checkpoint_position(p)) is not None]  # fmt: skip
        return [path for _, path in sorted(found, reverse=True)]
