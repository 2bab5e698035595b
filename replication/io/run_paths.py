"""Where a run keeps its files: every path convention in one place (submitit's JobPaths idea)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
