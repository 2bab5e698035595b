"""`snakemake -n` on both plans: the Snakefile parses, validates and lists every run, fast."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest
from shared import ROOT

from replication.workflow import expand_runs, read_plan


def _dry_run(*args: str) -> tuple[dict[str, int], str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env["PATH"] = f"{os.path.dirname(sys.executable)}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", *args, "-n", "--nolock"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    text = done.stdout + done.stderr
    counts = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", text, re.MULTILINE)}
    return counts, text


@pytest.mark.parametrize(
    ("args", "plan_file"),
    [
        ((), "config/config.yaml"),
        (("tables", "--configfile", "config/paper.yaml"), "config/paper.yaml"),
        (("smoke", "--configfile", "config/paper.yaml"), "config/config.yaml"),
    ],
)
def test_dry_run_lists_the_whole_plan(args, plan_file, monkeypatch):
    """Every run of the plan, whatever is already trained here (--forceall: after `make tables`
    a plain dry run rightly lists no training)."""
    monkeypatch.chdir(ROOT)
    started = time.monotonic()
    counts, _ = _dry_run(*args, "--forceall")
    assert time.monotonic() - started < 30
    assert counts["train"] == len(expand_runs(read_plan(ROOT / plan_file)))
    assert counts["collect"] == 1


def test_dry_run_rejects_a_bad_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster: cloud\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--nolock", "--configfile", str(bad)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode != 0
    assert "cloud" in done.stdout + done.stderr
