from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
K400_MG = ROOT / "config/kinetics/slowfast_8x8_r50_multigrid.yaml"
K400_BASE = ROOT / "config/kinetics/slowfast_8x8_r50.yaml"
SSV2_MG = ROOT / "config/ssv2/slowfast_16x8_r50_multigrid.yaml"
CHARADES_MG = ROOT / "config/charades/slowfast_16x8_r50_multigrid.yaml"


@pytest.fixture
def write_yaml(tmp_path: Path):
    """Write a YAML text to a fresh file and return its path."""

    def write(text: str, name: str = "exp.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
