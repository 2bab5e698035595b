"""Annotation readers: any supported format to one :class:`VideoTable`, plus CSV lists and folders.

``load_table`` reads a split in the configured format (or guesses it): ``path,label`` CSV lists
(or PySlowFast's ``path label`` lines) and class folders here, the paper's data sets' own files
in :mod:`replication.data.paper_annotations`. Rows whose file is missing are kept and counted in
``VideoTable.missing``. Malformed annotations raise ``ConfigError`` naming the file and the line.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from replication.config import ConfigError
from replication.data.paper_annotations import read_charades, read_kinetics_annotations, read_ssv2
from replication.data.video_table import (
    VIDEO_EXTENSIONS,
    FileIndex,
    Found,
    VideoRecord,
    VideoTable,
    first_line,
    make_table,
    read_json,
    read_text,
)

__all__ = [
    "FORMATS",
    "VIDEO_EXTENSIONS",
    "VideoRecord",
    "VideoTable",
    "guess_format",
    "load_table",
    "read_charades",
    "read_csv_table",
    "read_folder",
    "read_kinetics_annotations",
    "read_ssv2",
]

FORMATS = ("csv", "kinetics", "ssv2", "charades", "folder")
_INT = re.compile(r"-?\d+")


def read_csv_table(
    csv_path: str | Path,
    video_root: str | Path | None = None,
    class_names: Sequence[str] | None = None,
    skip_missing: bool = False,
) -> VideoTable:
    """Read a ``path,label`` list (Kinetics-style CSV, or PySlowFast's ``path label`` lines).

    The file is comma-separated if its first line has a comma; otherwise the label is the last
    whitespace-separated field, so paths may contain spaces. The header line is optional.
    Relative paths start at ``video_root`` (default: the CSV's folder). A label is a class index
    or a class name. Names come from ``class_names``, else a ``classes.json`` list beside the
    CSV, else they are derived: sorted unique names, or ``"0".."max"`` for indices.

    Raises:
        ConfigError: missing file, a row without two fields, an unknown name or bad index.
    """
    csv_path = Path(csv_path)
    src = str(csv_path)
    lines = read_text(csv_path).splitlines()
    root = Path(video_root) if video_root is not None else csv_path.parent
    if class_names is None:
        class_names = _classes_beside(csv_path)
    comma = "," in first_line(lines)
    rows: list[tuple[int, str, str]] = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        fields = next(csv.reader([line])) if comma else line.rsplit(maxsplit=1)
        if len(fields) != 2 or not fields[0].strip():
            shape = "path,label" if comma else "path label"
            raise ConfigError(f"line {lineno}", f"expected '{shape}', got {line.strip()!r}", src)
        path_text, label = fields[0].strip(), fields[1].strip()
        if not rows and label.lower() == "label" and label not in (class_names or ()):
            continue  # the header
        rows.append((lineno, path_text, label))
    names, labels = _csv_labels(rows, class_names, src)
    found: Found = []
    index = FileIndex()
    for (_, path_text, _), label in zip(rows, labels, strict=True):
        path = (root / path_text).absolute()
        found.append((VideoRecord(path, (label,)), index.exists(path)))
    return make_table(found, names, multi_label=False, skip=skip_missing)


def read_folder(root: str | Path, extensions: Iterable[str] = VIDEO_EXTENSIONS) -> VideoTable:
    """Read a ``root/<class>/<video>`` tree; class names are the sorted sub-folder names.

    Entries are matched by extension only (case-insensitive), so a dangling symlink still
    shows up as a record and the checker reports it, instead of vanishing from the data set.

    Raises:
        ConfigError: ``root`` is not a folder, or no sub-folder of it holds a video.
    """
    root = Path(root)
    if not root.is_dir():
        raise ConfigError("", "no such folder", str(root))
    exts = {e.lower() for e in extensions}
    names = tuple(sorted(d.name for d in root.iterdir() if d.is_dir() and d.name[0] != "."))
    found: Found = []
    for label, name in enumerate(names):
        for entry in sorted((root / name).iterdir()):
            if entry.suffix.lower() in exts and not entry.is_dir():
                found.append((VideoRecord(entry.absolute(), (label,)), True))
    if not found:
        raise ConfigError("", _no_class_folders(root, exts), str(root))
    return make_table(found, names, multi_label=False, skip=False)


def _no_class_folders(root: Path, exts: set[str]) -> str:
    """What a folder that is no class-folder data set holds, and what to pass instead."""
    entries = sorted(p for p in root.iterdir() if p.name[0] != ".")
    shown = [f"{p.name}/" if p.is_dir() else p.name for p in entries[:8]]
    more = f" and {len(entries) - 8} more" if len(entries) > 8 else ""
    holds = f"it holds {', '.join(shown)}{more}" if shown else "it is empty"
    kinds = (".csv", ".json", ".txt")  # annotation files, the likeliest first
    annotations = sorted((p for p in entries if p.suffix.lower() in kinds),
                         key=lambda p: kinds.index(p.suffix.lower()))  # fmt: skip
    hint = f"; pass an annotation file instead, e.g. {annotations[0]}" if annotations else ""
    wanted = "/".join(sorted(exts))
    return f"no class sub-folders with videos ({wanted}) in it: {holds}{hint}"


def guess_format(path: str | Path) -> str:
    """The annotation format of ``path``, from its kind and first line (see :data:`FORMATS`)."""
    path = Path(path)
    if path.is_dir():
        return "folder"
    if path.suffix.lower() == ".json":
        return "ssv2"
    header = {f.strip().lower() for f in first_line(read_text(path).splitlines()).split(",")}
    if {"youtube_id", "time_start"} <= header:
        return "kinetics"
    if {"id", "actions"} <= header:
        return "charades"
    return "csv"


_READERS = {"csv": read_csv_table, "kinetics": read_kinetics_annotations, "charades": read_charades}


def load_table(
    path: str | Path,
    format: str | None = None,
    video_root: str | Path | None = None,
    **options: Any,
) -> VideoTable:
    """Read any supported annotation; ``format`` is guessed when None or ``"auto"``.

    ``video_root`` defaults (also when ``""``) to the annotation's folder. For ``ssv2``, ``path``
    is the split list and ``labels_json`` defaults to ``labels.json`` beside it. Other
    ``options`` go to the reader (``split``, ``skip_missing``, ``class_names``...).
    """
    path = Path(path)
    format = guess_format(path) if format in (None, "auto") else format
    root = Path(video_root) if video_root else path.parent
    if format == "ssv2":
        labels_json = options.pop("labels_json", None) or path.with_name("labels.json")
        return read_ssv2(labels_json, path, root, **options)
    if format == "folder":
        return read_folder(path, **options)
    if format not in _READERS:
        raise ConfigError("format", f"unknown format {format!r}; one of {', '.join(FORMATS)}")
    return _READERS[format](path, root, **options)


def _classes_beside(csv_path: Path) -> tuple[str, ...] | None:
    path = csv_path.with_name("classes.json")
    if not path.exists():
        return None
    names = read_json(path)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError("", "expected a JSON list of class names", str(path))
    return tuple(names)


def _csv_labels(
    rows: list[tuple[int, str, str]], class_names: Sequence[str] | None, src: str
) -> tuple[tuple[str, ...], list[int]]:
    """Map label tokens to indices; derive the class names when none are given."""
    ints = [(lineno, int(t)) for lineno, _, t in rows if _INT.fullmatch(t)]
    if class_names is None and len(ints) == len(rows):
        class_names = tuple(str(i) for i in range(max((i for _, i in ints), default=-1) + 1))
    elif class_names is None:
        if ints:
            message = "mixes class indices and names; put classes.json beside the CSV"
            raise ConfigError(f"line {ints[0][0]}", message, src)
        class_names = tuple(sorted({label for _, _, label in rows}))
    class_index = {name: i for i, name in enumerate(class_names)}
    labels = []
    for lineno, _, label in rows:
        if label in class_index:
            labels.append(class_index[label])
        elif not _INT.fullmatch(label):
            raise ConfigError(f"line {lineno}", f"unknown class name {label!r}", src)
        elif not 0 <= int(label) < len(class_names):
            message = f"label {label} out of range for {len(class_names)} classes"
            raise ConfigError(f"line {lineno}", message, src)
        else:
            labels.append(int(label))
    return tuple(class_names), labels
