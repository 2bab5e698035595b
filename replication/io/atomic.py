"""Atomic writes: a reader sees the old file or the whole new one, never half of it.

Every file the suite writes for another step to read (checkpoints, summaries, CSVs, tables,
figures, videos, the frame cache, benchmark reports) goes through here. A killed job therefore
never leaves a truncated file that a later rule or a resumed run would take for complete. The
temporary name carries the process id, so two writers of one target never share a temporary.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: Path | str, *, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` once the block succeeds.

    The block writes the temporary however it likes (``torch.save``, PyAV, ``open``). On an
    exception the temporary is deleted and ``path`` keeps its previous content. ``fsync`` flushes
    the data to disk before the rename (checkpoints: the rename must not outlive the data).

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "a.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("whole")
    >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
    ('whole', ['a.txt'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: Path | str, data: bytes, *, fsync: bool = False) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path | str, text: str, *, fsync: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"), fsync=fsync)


def atomic_write_json(path: Path | str, value: Any, *, indent: int | None = 1) -> None:
    """Write ``value`` as JSON to ``path`` atomically."""
    atomic_write_text(path, json.dumps(value, indent=indent))


@contextmanager
def atomic_folder(out_dir: Path | str) -> Iterator[Path]:
    """Yield an empty temporary folder; move its files into ``out_dir`` once the block succeeds.

    For a set of files rendered together (tables, figures): a failure half-way leaves
    ``out_dir`` as it was. Files are moved one by one, each with an atomic rename, so write the
    file that marks the set complete (an index) after the block.
    """
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        out_dir.mkdir(parents=True, exist_ok=True)
        for path in sorted(tmp.iterdir()):
            path.replace(out_dir / path.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
