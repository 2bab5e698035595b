"""Shared fixtures of the results tests: the committed fixture plan and its trained runs."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
PLAN_FILE = FIXTURES / "plan.yaml"
RUNS = FIXTURES / "runs"


def copy_runs(tmp_path: Path) -> Path:
    """A writable copy of the fixture runs (tests that damage logs work on it)."""
    target = tmp_path / "runs"
    shutil.copytree(RUNS, target)
    return target
