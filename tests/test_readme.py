"""The README shows the committed smoke results, not numbers typed in by hand."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAIN_TABLE = ROOT / "tables" / "smoke" / "synthetic_slowfast_r18_main.md"
LONG_TABLE = ROOT / "tables" / "smoke_long" / "synthetic_slowfast_r18_e60_main.md"


def _table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


@pytest.mark.parametrize("table", [MAIN_TABLE, LONG_TABLE], ids=["smoke", "smoke_long"])
def test_readme_tables_are_the_generated_ones(table: Path):
    rows = _table_rows(table.read_text())
    assert len(rows) >= 4, f"{table} has no table"
    readme = (ROOT / "README.md").read_text()
    missing = [row for row in rows if row not in readme.splitlines()]
    assert not missing, f"README.md's copy differs from {table.name}: {missing}"


def test_readme_images_exist():
    readme = (ROOT / "README.md").read_text()
    images = [
        part.split(")")[0] for part in readme.split("](")[1:] if part.split(")")[0].endswith(".png")
    ]
    assert images, "README.md shows no figure"
    for image in images:
        assert (ROOT / image).is_file(), f"README.md shows {image}, which does not exist"
