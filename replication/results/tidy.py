"""Tidy CSV files of results: typed columns, atomic writes, exact round trips.

Every results file is written atomically (:mod:`replication.io.atomic`), so a killed job never
leaves a half-written file that a later rule would take for complete. Floats are
written with 6 significant digits: enough for every quantity we report, and stable across
machines, so the same logs give byte-identical files.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from replication.io.atomic import atomic_write_text

Row = dict[str, Any]


def format_value(value: Any) -> str:
    """The CSV spelling of one cell: '' for None, 6 significant digits for floats.

    >>> [format_value(v) for v in (None, True, 3, 0.1 + 0.2, 1234567.0)]
    ['', 'true', '3', '0.3', '1.23457e+06']
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def to_csv(rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """CSV text with a header, ``columns`` in order, Unix line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([format_value(row.get(c)) for c in columns])
    return buffer.getvalue()


def write_rows(path: Path | str, rows: Iterable[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Write rows as CSV atomically."""
    atomic_write_text(path, to_csv(rows, columns))


def _parse(text: str, kind: type) -> Any:
    if text == "":
        return None
    if kind is bool:
        return text == "true"
    return kind(text)


def read_rows(
    path: Path | str, types: Mapping[str, type], optional: Collection[str] = ()
) -> list[Row]:
    """Read a CSV written by :func:`write_rows`, converting the columns named in ``types``.

    Columns in ``optional`` (added after files were written) may be absent: they read as None.

    Raises:
        ValueError: naming the file when a column is missing or a cell does not parse.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such results file (run the collect step first)")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        absent = set(types) - set(reader.fieldnames or ())
        missing = absent - set(optional)
        if missing:
            raise ValueError(f"{path}: missing columns {', '.join(sorted(missing))}")
        rows = []
        for number, raw in enumerate(reader, 2):
            try:
                row = {k: _parse(v, types.get(k, str)) for k, v in raw.items()}
                rows.append({**row, **dict.fromkeys(absent)})
            except ValueError as err:
                raise ValueError(f"{path}: line {number}: {err}") from None
    return rows
