"""The table every annotation reader returns, and what the readers share to build it.

A split becomes a :class:`VideoTable` of absolute paths and integer labels, whatever format
its annotations came in (:mod:`replication.data.annotations`,
:mod:`replication.data.paper_annotations`).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from replication.config import ConfigError

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm")
Found = list[tuple["VideoRecord", bool]]  # each record and whether its file exists


class ActionSpan(NamedTuple):
    """One annotated action of a video (Charades): its class and when it happens."""

    label: int
    start_s: float  # from the start of the video, seconds
    end_s: float


@dataclass(frozen=True)
class VideoRecord:
    """One training or test example: a video file (or a segment of it) and its labels."""

    path: Path  # absolute path of the video file
    labels: tuple[int, ...]  # one label (single-label) or several (multi-label, Charades)
    start_s: float = 0.0  # segment start inside the file, seconds
    end_s: float | None = None  # segment end (None = to the end)
    spans: tuple[ActionSpan, ...] = ()  # when each label happens (Charades); () = whole video
    duration_s: float | None = None  # annotated video length, seconds (places spans in frames)


@dataclass(frozen=True)
class VideoTable:
    """The examples of one split plus the class vocabulary they index into."""

    records: tuple[VideoRecord, ...]
    class_names: tuple[str, ...]  # label i is class_names[i]
    multi_label: bool  # True for Charades (sigmoid + mAP), False for softmax data sets
    missing: int = 0  # annotated videos whose file was not found (kept as records unless skipped)


class FileIndex(dict[Path, frozenset[str]]):
    """Answers "does this file exist" from one listing per folder, not one ``stat`` per file.

    Resolving 240k Kinetics rows against several layouts would otherwise cost millions of
    ``stat`` calls, which is slow on network file systems.
    """

    def __missing__(self, folder: Path) -> frozenset[str]:
        self[folder] = frozenset(os.listdir(folder)) if folder.is_dir() else frozenset()
        return self[folder]

    def exists(self, path: Path) -> bool:
        """Whether ``path`` exists (its folder listed once)."""
        return path.name in self[path.parent]

    def first(self, candidates: Iterable[Path]) -> tuple[Path, bool]:
        """The first existing candidate, else the first candidate; and whether it exists."""
        paths = [p.absolute() for p in candidates]
        return next(((p, True) for p in paths if self.exists(p)), (paths[0], False))


def make_table(found: Found, names: Sequence[str], multi_label: bool, skip: bool) -> VideoTable:
    """The table of ``found``; missing files are counted, and dropped when ``skip``."""
    records = tuple(r for r, exists in found if exists or not skip)
    missing = sum(not exists for _, exists in found)
    return VideoTable(records, tuple(names), multi_label, missing)


def first_line(lines: Sequence[str]) -> str:
    """The first non-blank line ('' for none)."""
    return next((line for line in lines if line.strip()), "")


def read_text(path: Path) -> str:
    """An annotation file's text, or ConfigError naming it."""
    try:
        return path.read_text(encoding="utf-8-sig")  # -sig: spreadsheet exports start with a BOM
    except FileNotFoundError:
        raise ConfigError("", "no such annotation file", str(path)) from None
    except (OSError, UnicodeDecodeError) as err:  # a folder, no permission, binary data
        reason = getattr(err, "strerror", None) or err
        raise ConfigError("", f"cannot read: {reason}", str(path)) from None


def read_json(path: Path) -> Any:
    """An annotation file's JSON, or ConfigError naming the file and line."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise ConfigError(f"line {err.lineno}", f"invalid JSON: {err.msg}", str(path)) from None


def require_columns(reader: csv.DictReader, columns: Sequence[str], src: str) -> None:
    """Refuse a CSV that lacks one of ``columns`` (headers are stripped first)."""
    reader.fieldnames = [f.strip() for f in reader.fieldnames or ()]
    absent = [c for c in columns if c not in reader.fieldnames]
    if absent:
        raise ConfigError("line 1", f"missing column(s) {', '.join(absent)}", src)
