from __future__ import annotations

from pathlib import Path

import pytest

from replication.model import BackboneSpec

ROOT = Path(__file__).resolve().parents[1]
K400_MG = ROOT / "config/kinetics/slowfast_8x8_r50_multigrid.yaml"
K400_BASE = ROOT / "config/kinetics/slowfast_8x8_r50.yaml"
SSV2_MG = ROOT / "config/ssv2/slowfast_16x8_r50_multigrid.yaml"
CHARADES_MG = ROOT / "config/charades/slowfast_16x8_r50_multigrid.yaml"

# The smallest depth each backbone family supports, at 1/8 of the standard width.
TINY = {
    "slow": BackboneSpec(arch="slow", depth=18, width=8, num_classes=5),
    "i3d": BackboneSpec(arch="i3d", depth=18, width=8, num_classes=5),
    "slowfast": BackboneSpec(arch="slowfast", depth=18, width=8, num_classes=5),
    "x3d": BackboneSpec(arch="x3d", depth=11, width=8, num_classes=5),
    "r2plus1d": BackboneSpec(arch="r2plus1d", depth=50, width=8, num_classes=5),
    "csn": BackboneSpec(arch="csn", depth=50, width=8, num_classes=5),
}


@pytest.fixture
def write_yaml(tmp_path: Path):
    """Write a YAML text to a fresh file and return its path."""

    def write(text: str, name: str = "exp.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write
