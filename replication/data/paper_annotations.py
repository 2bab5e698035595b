"""Readers of the paper's data sets' own annotation files: Kinetics-400, SSv2, Charades.

Each data set of Wu et al. 2020 (Sec. 4) becomes the same :class:`VideoTable`. Rows whose file
is missing are kept and counted in ``VideoTable.missing``: a Kinetics copy lacking 5-13 % of
its videos moves top-1 by points, so that number must be reported, never silently absorbed.
Malformed annotations raise ``ConfigError`` naming the file and the line (or JSON item).
"""

from __future__ import annotations

import csv
import io
import math
import re
from pathlib import Path

from replication.config import ConfigError
from replication.data.video_table import (
    ActionSpan,
    FileIndex,
    Found,
    VideoRecord,
    VideoTable,
    make_table,
    read_json,
    read_text,
    require_columns,
)

_K400_EXT = (".mp4", ".mkv", ".webm")  # what YouTube downloaders write
_INT = re.compile(r"-?\d+")


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
    reader = csv.DictReader(io.StringIO(read_text(csv_path)))
    columns = ["label", "youtube_id", "time_start", "time_end"] + (["split"] if split else [])
    require_columns(reader, columns, src)
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
    index = FileIndex()
    found: Found = []
    for label, youtube_id, start, end, row in rows:
        if split is not None and row["split"].strip() != split:
            continue
        clip = f"{youtube_id}_{start:06d}_{end:06d}"
        folders = dict.fromkeys([root / label, root / label.replace(" ", "_")])
        stems = [folder / clip for folder in folders] + [root / clip, root / youtube_id]
        path, exists = index.first(s.with_name(s.name + e) for s in stems for e in _K400_EXT)
        found.append((VideoRecord(path, (class_index[label],)), exists))
    return make_table(found, names, multi_label=False, skip=skip_missing)


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
    mapping = read_json(Path(labels_json))
    if not isinstance(mapping, dict) or not all(_INT.fullmatch(str(v)) for v in mapping.values()):
        raise ConfigError("", "expected an object mapping each template to an index", src)
    class_index = {name: int(value) for name, value in mapping.items()}
    names = tuple(sorted(class_index, key=class_index.__getitem__))
    if sorted(class_index.values()) != list(range(len(names))):
        raise ConfigError("", f"indices must be 0..{len(names) - 1}, each once", src)
    src, root = str(split_json), Path(video_root)
    items = read_json(Path(split_json))
    if not isinstance(items, list):
        raise ConfigError("", "expected a list of {id, template} objects", src)
    index = FileIndex()
    found: Found = []
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
    return make_table(found, names, multi_label=False, skip=skip_missing)


def read_charades(
    csv_path: str | Path, video_root: str | Path, class_count: int = 157, skip_missing: bool = False
) -> VideoTable:
    """Read ``Charades_v1_{train,test}.csv`` as a multi-label table, one record per video.

    ``actions`` is ``"c092 11.90 21.20;c147 0.00 12.60"`` (class, start and end in seconds); a
    video's labels are the sorted unique classes of its actions, ``()`` when it has none, and
    its ``spans`` keep every action in file order, so a training clip can be labelled with the
    actions it overlaps (:mod:`replication.data.clip_labels`). ``length`` (seconds), when the
    CSV has the column, is the record's ``duration_s``. Class names come from
    ``Charades_v1_classes.txt`` beside the CSV when it exists, else they are ``c000``...

    Raises:
        ConfigError: missing file or columns, an action that is not ``cNNN start end`` with a
            class below ``class_count``, or a ``length`` that is not a positive number of
            seconds.
    """
    csv_path, root, src = Path(csv_path), Path(video_root), str(csv_path)
    reader = csv.DictReader(io.StringIO(read_text(csv_path)))
    require_columns(reader, ["id", "actions"], src)
    index = FileIndex()
    found: Found = []
    for row in reader:
        where = f"line {reader.line_num}"
        if row["id"] is None or row["actions"] is None or not row["id"].strip():
            raise ConfigError(where, "row without an id or actions field", src)
        spans = tuple(
            _charades_span(action, class_count, where, src)
            for action in filter(None, (a.strip() for a in row["actions"].split(";")))
        )
        labels = tuple(sorted({span.label for span in spans}))
        duration = _charades_length(row.get("length"), where, src)
        path = (root / f"{row['id'].strip()}.mp4").absolute()
        record = VideoRecord(path, labels, spans=spans, duration_s=duration)
        found.append((record, index.exists(path)))
    names = _charades_names(csv_path.with_name("Charades_v1_classes.txt"), class_count)
    return make_table(found, names, multi_label=True, skip=skip_missing)


def _charades_span(action: str, class_count: int, where: str, src: str) -> ActionSpan:
    match = re.fullmatch(r"c(\d+) +(\d+(?:\.\d*)?) +(\d+(?:\.\d*)?)", action)
    if not match:
        raise ConfigError(where, f"bad action {action!r}; want 'cNNN start end'", src)
    if int(match[1]) >= class_count:
        raise ConfigError(where, f"class c{match[1]} out of range for {class_count} classes", src)
    times = sorted((float(match[2]), float(match[3])))  # an end written first still spans them
    return ActionSpan(int(match[1]), *times)


def _charades_length(text: str | None, where: str, src: str) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        length = float(text)
    except ValueError:
        length = math.nan
    if not (math.isfinite(length) and length > 0):
        raise ConfigError(where, f"length {text.strip()!r} is not a positive number of seconds",
                          src)  # fmt: skip
    return length


def _charades_names(path: Path, class_count: int) -> tuple[str, ...]:
    if not path.exists():
        return tuple(f"c{i:03d}" for i in range(class_count))
    names = {}
    for lineno, line in enumerate(read_text(path).splitlines(), 1):
        match = re.fullmatch(r"c(\d+)\s+(.*)", line.strip())
        if line.strip() and not match:
            raise ConfigError(f"line {lineno}", f"expected 'cNNN name', got {line!r}", str(path))
        if match:
            names[int(match[1])] = match[2]
    if sorted(names) != list(range(class_count)):
        raise ConfigError("", f"expected classes c000..c{class_count - 1:03d}", str(path))
    return tuple(names[i] for i in range(class_count))
