"""The GPU check script's CPU-runnable parts: the wheel list, and every step shrunk on a CPU."""

from __future__ import annotations

import json
import subprocess
import sys

from shared import ROOT

from replication.gpu import wheelhouse


def test_wheelhouse_pins_every_missing_package_from_the_lock_file():
    pins = wheelhouse.pinned_versions()
    assert len(pins) == len(wheelhouse.MISSING)
    assert all("==" in pin for pin in pins.values())
    assert not {"torch", "numpy", "pandas", "snakemake"} & set(pins)  # the node has or needs none


def test_platforms_add_the_glibc_tag_torch_needs_anyway():
    assert wheelhouse.platforms(["manylinux2014_x86_64"]) == [
        "manylinux2014_x86_64", "manylinux_2_28_x86_64"]  # fmt: skip


def test_cpu_smoke_runs_every_step_of_the_check(tmp_path):
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "replication.gpu", "check", "--no-install", "--cpu-smoke",
         "--out", str(out), "--budget-s", "300"],
        cwd=ROOT, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    status = json.loads((out / "check.json").read_text())["status"]
    assert all(value.startswith("ok") for value in status.values()), status
    assert "gpu tests" in status and "step times fp32" in status
    assert (out / "tables" / "synthetic_gpu_slowfast_r50_main.md").is_file()
    assert (out / "results" / "grids.csv").is_file()
    assert (
        out / "runs" / "synthetic_gpu_slowfast_r50" / "long_short-s0" / "summary.json"
    ).is_file()
    assert json.loads((out / "env.json").read_text())["torch"]
