"""Constants and small helpers the test modules share; fixtures live in conftest.py.

Shipped configs (their own tests check what users run) against the frozen copies under
``tests/fixtures/configs/`` that tests train with, so editing a shipped config never changes a
test; the tiny backbones; and whether the local SLURM cluster answers.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from replication.model import BackboneSpec

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
K400_MG = ROOT / "config/kinetics/slowfast_8x8_r50_multigrid.yaml"
K400_BASE = ROOT / "config/kinetics/slowfast_8x8_r50.yaml"
SSV2_MG = ROOT / "config/ssv2/slowfast_16x8_r50_multigrid.yaml"
CHARADES_MG = ROOT / "config/charades/slowfast_16x8_r50_multigrid.yaml"
TEST_MULTIGRID = FIXTURES / "configs" / "smoke_multigrid.yaml"  # frozen smoke long + short
CLASSES, TRAIN_PER_CLASS, VAL_PER_CLASS = 4, 18, 3  # the tiny_videos fixture's data set
# A tiny plan whose committed runs (event logs, no checkpoints) the results tests read.
PLAN_FILE = FIXTURES / "plan.yaml"
RUNS = FIXTURES / "runs"

# The smallest depth each backbone family supports, at 1/8 of the standard width.
TINY = {
    "slow": BackboneSpec(arch="slow", depth=18, width=8, num_classes=5),
    "i3d": BackboneSpec(arch="i3d", depth=18, width=8, num_classes=5),
    "i3d_nl": BackboneSpec(arch="i3d_nl", depth=18, width=8, num_classes=5),
    "slowfast": BackboneSpec(arch="slowfast", depth=18, width=8, num_classes=5),
    "x3d": BackboneSpec(arch="x3d", depth=11, width=8, num_classes=5),
    "r2plus1d": BackboneSpec(arch="r2plus1d", depth=50, width=8, num_classes=5),
    "csn": BackboneSpec(arch="csn", depth=50, width=8, num_classes=5),
}

# ------------------------------------------------------------------ the local SLURM cluster

REQUIRE_SLURM = os.environ.get("REPLICATION_REQUIRE_SLURM") == "1"


@functools.cache
def cluster_problem() -> str | None:
    """Why no SLURM cluster is usable, or None if `sinfo` answers (asked once per session)."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "sinfo/sbatch not found (start one with: sudo slurm/local-cluster.sh start)"
    # `scontrol ping` answers at once; sinfo retries a dead controller for ~9 s.
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"scontrol ping did not answer: {exc}"
    if ping.returncode != 0:
        first_line = (ping.stdout or ping.stderr).strip().splitlines()[:1]
        return f"slurmctld is down: {' '.join(first_line) or 'scontrol ping failed'}"
    try:
        proc = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=15
        )
    except subprocess.TimeoutExpired:
        return "sinfo timed out (is slurmctld running?)"
    if proc.returncode != 0:
        return f"sinfo failed (rc={proc.returncode}): {proc.stderr.strip()}"
    if not proc.stdout.strip():
        return "sinfo lists no nodes"
    return None


def skip_module_without_cluster() -> None:
    """At the top of a SLURM test module: skip it when no cluster answers, unless required.

    With REPLICATION_REQUIRE_SLURM=1 (set in CI, which starts the cluster first) the module is
    collected anyway and every test fails through :func:`require_cluster`, so a broken set-up
    cannot pass silently as "all skipped".
    """
    if cluster_problem() is not None and not REQUIRE_SLURM:
        pytest.skip(f"no SLURM cluster reachable: {cluster_problem()}", allow_module_level=True)


def require_cluster() -> None:
    """First statement of every SLURM test: a FAILED test (not a fixture error) without one."""
    if cluster_problem() is not None:
        pytest.fail(
            f"REPLICATION_REQUIRE_SLURM=1 but no SLURM cluster is reachable: {cluster_problem()}",
            pytrace=False,
        )
