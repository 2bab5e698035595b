"""Annotation readers for Kinetics, Something-Something V2, Charades, CSV lists and class folders.

Each data set of Wu et al. 2020 (Sec. 4) becomes the same :class:`VideoTable` of absolute paths
and integer labels. Rows whose file is missing are kept and counted in ``VideoTable.missing``: a
Kinetics copy lacking 5-13 % of its videos moves top-1 by points, so that number must be
reported, never silently absorbed. Malformed annotations raise ``ConfigError`` naming the file
and the line (or JSON item).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replication.config import ConfigError

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm")
_K400_EXT = (".mp4", ".mkv", ".webm")  # what YouTube downloaders write
FORMATS = ("csv", "kinetics", "ssv2", "charades", "folder")
_INT = re.compile(r"-?\d+")
_Found = list[tuple["VideoRecord", bool]]  # each record and whether its file exists


@dataclass(frozen=True)
class VideoRecord:
    """One training or test example: a video file (or a segment of it) and its labels."""

    path: Path  # absolute path of the video file
    labels: tuple[int, ...]  # one label (single-label) or several (multi-label, Charades)
    start_s: float = 0.0  # segment start inside the file, seconds
    end_s: float | None = None  # segment end (None = to the end)


@dataclass(frozen=True)
class VideoTable:
    """The examples of one split plus the class vocabulary they index into."""

    records: tuple[VideoRecord, ...]
    class_names: tuple[str, ...]  # label i is class_names[i]
    multi_label: bool  # True for Charades (sigmoid + mAP), False for softmax data sets
    missing: int = 0  # annotated videos whose file was not found (kept as records unless skipped)


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
    lines = _read_text(csv_path).splitlines()
    root = Path(video_root) if video_root is not None else csv_path.parent
    if class_names is None:
        class_names = _classes_beside(csv_path)
    comma = "," in _first(lines)
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
    found: _Found = []
    index = _FileIndex()
    for (_, path_text, _), label in zip(rows, labels, strict=True):
        path = (root / path_text).absolute()
        found.append((VideoRecord(path, (label,)), index.exists(path)))
    return _table(found, names, multi_label=False, skip=skip_missing)


def read_kinetics_annotations(
    csv_path: str | Path,
    video_root: str | Path,
    split: str | None = None,
    skip_missing: bool = False,
) -> VideoTable:
    """Read an official Kinetics CSV (``label,youtube_id,time_start,time_end,split[,is_cc]``).

    Each row is resolved to the first existing file among, for each extension of
    ``.mp4 .mkv .webm``: ``{root}/{label}/{id}_{start:06d}_{end:06d}`` (downloader layout;
    also with spaces in the label as ``_``), ``{root}/{id}_{start:06d}_{end:06d}`` and
    ``{root}/{id}``. Files are taken as already trimmed to the clip. Class names are the
    sorted unique labels of the whole file, so every split of one CSV shares the indices.
    ``split`` keeps the rows whose ``split`` column equals it; ``skip_missing`` drops rows with
    no file (they still count in :attr:`VideoTable.missing`).

    Raises:
        ConfigError: missing file or columns, a short row, or a non-integer time.
    """
    csv_path, root, src = Path(csv_path), Path(video_root), str(csv_path)
    reader = csv.DictReader(io.StringIO(_read_text(csv_path)))
    columns = ["label", "youtube_id", "time_start", "time_end"] + (["split"] if split else [])
    _require_columns(reader, columns, src)
    rows = []
    for row in reader:
        where = f"line {reader.line_num}"
        if None in row or None in row.values():
            raise ConfigError(where, f"expected {len(reader.fieldnames or ())} fields", src)
        times = [row[key].strip() for key in ("time_start", "time_end")]
        if not all(_INT.fullmatch(t) for t in times):
            raise ConfigError(where, f"times must be whole seconds, got {','.join(times)}", src)
        rows.append((row["label"].strip(), row["youtube_id"].strip(), *map(int, times), row))
    names = tuple(sorted({row[0] for row in rows}))
    class_index = {name: i for i, name in enumerate(names)}
    index = _FileIndex()
    found: _Found = []
    for label, youtube_id, start, end, row in rows:
        if split is not None and row["split"].strip() != split:
            continue
        clip = f"{youtube_id}_{start:06d}_{end:06d}"
        folders = dict.fromkeys([root / label, root / label.replace(" ", "_")])
        stems = [folder / clip for folder in folders] + [root / clip, root / youtube_id]
        path, exists = index.first(s.with_name(s.name + e) for s in stems for e in _K400_EXT)
        found.append((VideoRecord(path, (class_index[label],)), exists))
    return _table(found, names, multi_label=False, skip=skip_missing)


def read_ssv2(
    labels_json: str | Path,
    split_json: str | Path,
    video_root: str | Path,
    skip_missing: bool = False,
) -> VideoTable:
    """Read Something-Something V2: ``labels.json`` plus a split list of ``{id, template}``.

    Templates carry ``[something]`` brackets that ``labels.json`` keys do not, so the brackets
    are removed before the lookup. Items without a template (the unlabelled test list) get
    ``labels=()``. Files are ``{root}/{id}.webm`` (or ``.mp4``, for re-encoded copies).

    Raises:
        ConfigError: missing file, bad JSON, indices that are not 0..n-1, an item without an
            ``id``, or a template that ``labels.json`` does not know (named by item number).
    """
    src = str(labels_json)
    mapping = _read_json(Path(labels_json))
    if not isinstance(mapping, dict) or not all(_INT.fullmatch(str(v)) for v in mapping.values()):
        raise ConfigError("", "expected an object mapping each template to an index", src)
    class_index = {name: int(value) for name, value in mapping.items()}
    names = tuple(sorted(class_index, key=class_index.__getitem__))
    if sorted(class_index.values()) != list(range(len(names))):
        raise ConfigError("", f"indices must be 0..{len(names) - 1}, each once", src)
    src, root = str(split_json), Path(video_root)
    items = _read_json(Path(split_json))
    if not isinstance(items, list):
        raise ConfigError("", "expected a list of {id, template} objects", src)
    index = _FileIndex()
    found: _Found = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "id" not in item:
            raise ConfigError(f"item {i}", "expected an object with an 'id'", src)
        labels: tuple[int, ...] = ()
        if item.get("template") is not None:
            template = str(item["template"]).replace("[", "").replace("]", "")
            if template not in class_index:
                raise ConfigError(f"item {i}", f"template {template!r} not in labels.json", src)
            labels = (class_index[template],)
        stem = root / str(item["id"]).strip()
        path, exists = index.first(stem.with_name(stem.name + e) for e in (".webm", ".mp4"))
        found.append((VideoRecord(path, labels), exists))
    return _table(found, names, multi_label=False, skip=skip_missing)


def read_charades(
    csv_path: str | Path, video_root: str | Path, class_count: int = 157, skip_missing: bool = False
) -> VideoTable:
    """Read ``Charades_v1_{train,test}.csv`` as a multi-label table, one record per video.

    ``actions`` is ``"c092 11.90 21.20;c147 0.00 12.60"``; a video's labels are the sorted
    unique classes of its actions, ``()`` when it has none. Class names come from
    ``Charades_v1_classes.txt`` beside the CSV when it exists, else they are ``c000``...

    Raises:
        ConfigError: missing file or columns, or an action that is not ``cNNN start end``
            with a class below ``class_count``.
    """
    csv_path, root, src = Path(csv_path), Path(video_root), str(csv_path)
    reader = csv.DictReader(io.StringIO(_read_text(csv_path)))
    _require_columns(reader, ["id", "actions"], src)
    index = _FileIndex()
    found: _Found = []
    for row in reader:
        where = f"line {reader.line_num}"
        if row["id"] is None or row["actions"] is None or not row["id"].strip():
            raise ConfigError(where, "row without an id or actions field", src)
        labels = set()
        for action in filter(None, (a.strip() for a in row["actions"].split(";"))):
            labels.add(_charades_class(action, class_count, where, src))
        path = (root / f"{row['id'].strip()}.mp4").absolute()
        found.append((VideoRecord(path, tuple(sorted(labels))), index.exists(path)))
    names = _charades_names(csv_path.with_name("Charades_v1_classes.txt"), class_count)
    return _table(found, names, multi_label=True, skip=skip_missing)


def read_folder(root: str | Path, extensions: Iterable[str] = VIDEO_EXTENSIONS) -> VideoTable:
    """Read a ``root/<class>/<video>`` tree; class names are the sorted sub-folder names.

    Entries are matched by extension only (case-insensitive), so a dangling symlink still
    shows up as a record and the checker reports it, instead of vanishing from the data set.

    Raises:
        ConfigError: ``root`` is not a folder or has no class sub-folders.
    """
    root = Path(root)
    if not root.is_dir():
        raise ConfigError("", "no such folder", str(root))
    exts = {e.lower() for e in extensions}
    names = tuple(sorted(d.name for d in root.iterdir() if d.is_dir() and d.name[0] != "."))
    if not names:
        raise ConfigError("", "no class sub-folders", str(root))
    found: _Found = []
    for label, name in enumerate(names):
        for entry in sorted((root / name).iterdir()):
            if entry.suffix.lower() in exts and not entry.is_dir():
                found.append((VideoRecord(entry.absolute(), (label,)), True))
    return _table(found, names, multi_label=False, skip=False)


def guess_format(path: str | Path) -> str:
    """The annotation format of ``path``, from its kind and first line (see :data:`FORMATS`)."""
    path = Path(path)
    if path.is_dir():
        return "folder"
    if path.suffix.lower() == ".json":
        return "ssv2"
    header = {f.strip().lower() for f in _first(_read_text(path).splitlines()).split(",")}
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


class _FileIndex(dict[Path, frozenset[str]]):
    """Answers "does this file exist" from one listing per folder, not one ``stat`` per file.

    Resolving 240k Kinetics rows against several layouts would otherwise cost millions of
    ``stat`` calls, which is slow on network file systems.
    """

    def __missing__(self, folder: Path) -> frozenset[str]:
        self[folder] = frozenset(os.listdir(folder)) if folder.is_dir() else frozenset()
        return self[folder]

    def exists(self, path: Path) -> bool:
        return path.name in self[path.parent]

    def first(self, candidates: Iterable[Path]) -> tuple[Path, bool]:
        """The first existing candidate, else the first candidate; and whether it exists."""
        paths = [p.absolute() for p in candidates]
        return next(((p, True) for p in paths if self.exists(p)), (paths[0], False))


def _table(found: _Found, names: Sequence[str], multi_label: bool, skip: bool) -> VideoTable:
    records = tuple(r for r, exists in found if exists or not skip)
    missing = sum(not exists for _, exists in found)
    return VideoTable(records, tuple(names), multi_label, missing)


def _first(lines: Sequence[str]) -> str:
    return next((line for line in lines if line.strip()), "")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # -sig: spreadsheet exports start with a BOM
    except FileNotFoundError:
        raise ConfigError("", "no such annotation file", str(path)) from None
    except (OSError, UnicodeDecodeError) as err:  # a folder, no permission, binary data
        reason = getattr(err, "strerror", None) or err
        raise ConfigError("", f"cannot read: {reason}", str(path)) from None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(_read_text(path))
    except json.JSONDecodeError as err:
        raise ConfigError(f"line {err.lineno}", f"invalid JSON: {err.msg}", str(path)) from None


def _classes_beside(csv_path: Path) -> tuple[str, ...] | None:
    path = csv_path.with_name("classes.json")
    if not path.exists():
        return None
    names = _read_json(path)
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


def _require_columns(reader: csv.DictReader, columns: Sequence[str], src: str) -> None:
    reader.fieldnames = [f.strip() for f in reader.fieldnames or ()]
    absent = [c for c in columns if c not in reader.fieldnames]
    if absent:
        raise ConfigError("line 1", f"missing column(s) {', '.join(absent)}", src)


def _charades_class(action: str, class_count: int, where: str, src: str) -> int:
    match = re.fullmatch(r"c(\d+) +(\d+(?:\.\d*)?) +(\d+(?:\.\d*)?)", action)
    if not match:
        raise ConfigError(where, f"bad action {action!r}; want 'cNNN start end'", src)
    if int(match[1]) >= class_count:
        raise ConfigError(where, f"class c{match[1]} out of range for {class_count} classes", src)
    return int(match[1])


def _charades_names(path: Path, class_count: int) -> tuple[str, ...]:
    if not path.exists():
        return tuple(f"c{i:03d}" for i in range(class_count))
    names = {}
    for lineno, line in enumerate(_read_text(path).splitlines(), 1):
        match = re.fullmatch(r"c(\d+)\s+(.*)", line.strip())
        if line.strip() and not match:
            raise ConfigError(f"line {lineno}", f"expected 'cNNN name', got {line!r}", str(path))
        if match:
            names[int(match[1])] = match[2]
    if sorted(names) != list(range(class_count)):
        raise ConfigError("", f"expected classes c000..c{class_count - 1:03d}", str(path))
    return tuple(names[i] for i in range(class_count))
