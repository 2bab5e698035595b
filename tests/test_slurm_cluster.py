"""Smoke tests against the local single-node SLURM cluster (slurm/local-cluster.sh).

Skipped when no cluster answers. With REPLICATION_REQUIRE_SLURM=1 (set in CI,
which runs `slurm/local-cluster.sh start` first) a missing cluster fails the
tests instead, so a broken setup cannot pass silently as "all skipped".
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from shared import ROOT, require_cluster, skip_module_without_cluster

from replication.workflow import expand_runs, read_plan

CLUSTER_SCRIPT = ROOT / "slurm" / "local-cluster.sh"

# A job that sits in the queue longer than this means the cluster is broken;
# fail instead of hanging the test run.
JOB_TIMEOUT_S = 60

skip_module_without_cluster()


def _submit_smoke_job(workdir: Path) -> tuple[str, Path]:
    """Submit a tiny batch job, wait for it to end; return (job id, its output file)."""
    result = workdir / "result.txt"
    script = workdir / "job.sh"
    script.write_text(
        "#!/bin/bash\n"
        "#SBATCH --job-name=replication-smoke\n"
        "#SBATCH --ntasks=1\n"
        "#SBATCH --cpus-per-task=1\n"
        "#SBATCH --mem=100M\n"
        "#SBATCH --time=1\n"
        f"#SBATCH --output={workdir}/slurm-%j.out\n"
        "set -eu\n"
        f'echo "host=$(hostname)" > "{result}"\n'
        f'echo "job=$SLURM_JOB_ID" >> "{result}"\n'
    )
    proc = subprocess.run(
        ["sbatch", "--parsable", "--wait", str(script)],
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT_S,
    )
    assert proc.returncode == 0, f"sbatch --wait failed: {proc.stdout}\n{proc.stderr}"
    # --parsable prints "jobid" or "jobid;cluster" on the first line.
    job_id = proc.stdout.strip().splitlines()[0].split(";")[0]
    assert job_id.isdigit(), f"unexpected sbatch output: {proc.stdout!r}"
    return job_id, result


@pytest.fixture(scope="module")
def smoke_job(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], tuple[str, Path]]:
    """Lazily run the smoke job once per module and share it between tests.

    Lazy (a callable, not the result) so that submission problems are reported
    as test failures with their message, and only after require_cluster().
    """
    outcome: dict[str, tuple[str, Path]] = {}
    attempted = False

    def get() -> tuple[str, Path]:
        nonlocal attempted
        if "job" not in outcome:
            if attempted:
                pytest.fail("the smoke job already failed in an earlier test", pytrace=False)
            attempted = True
            outcome["job"] = _submit_smoke_job(tmp_path_factory.mktemp("slurm_job"))
        return outcome["job"]

    return get


@pytest.mark.slurm
def test_sbatch_job_writes_output(smoke_job: Callable[[], tuple[str, Path]]) -> None:
    require_cluster()
    job_id, result = smoke_job()
    assert result.exists(), f"job {job_id} wrote no {result}"
    lines = dict(line.split("=", 1) for line in result.read_text().splitlines())
    assert lines["job"] == job_id
    assert lines["host"].strip(), "job reported an empty hostname"


@pytest.mark.slurm
def test_sacct_reports_completed(smoke_job: Callable[[], tuple[str, Path]]) -> None:
    require_cluster()
    job_id, _ = smoke_job()
    # slurmctld forwards the end record to slurmdbd asynchronously: give it a
    # few seconds instead of racing it.
    deadline = time.monotonic() + 15
    state = ""
    while time.monotonic() < deadline:
        proc = subprocess.run(
            ["sacct", "-j", job_id, "-X", "-n", "-P", "-o", "State"],
            capture_output=True,
            text=True,
            timeout=15,
        )
        assert proc.returncode == 0, f"sacct failed (accounting down?): {proc.stderr}"
        state = proc.stdout.strip()
        if state == "COMPLETED":
            break
        time.sleep(0.5)
    assert state == "COMPLETED", f"sacct state of job {job_id}: {state!r}"


@pytest.mark.slurm
def test_status_subcommand_reports_up() -> None:
    require_cluster()
    proc = subprocess.run(
        ["bash", str(CLUSTER_SCRIPT), "status"], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, f"status exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    assert "up" in proc.stdout.split()


def test_profiles_written_for_this_cluster_let_the_paper_plan_plan_every_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m replication slurm-profile` asks sinfo, and its profiles pass the dry run's
    checks against the cluster's nodes (8 processes overcommit the test node's 2 cores)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env["PATH"] = f"{os.path.dirname(sys.executable)}{os.pathsep}{env.get('PATH', '')}"
    (tmp_path / "config").symlink_to(ROOT / "config")
    (tmp_path / "slurm").mkdir()
    for name, extra in (("default.yaml", ["--processes", "8", "--overcommit"]),
                        ("one-gpu.yaml", ["--processes", "1"])):  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "replication", "slurm-profile", *extra, "--write",
             f"slurm/{name}"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "partition: local" in (tmp_path / "slurm" / name).read_text()
    paper = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    for data in paper["datasets"].values():
        if data:
            for key in ("train_annotations", "val_annotations"):
                (tmp_path / data[key]).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / data[key]).write_text("")
            (tmp_path / data["video_root"]).mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "tables",
         "--configfile", "config/paper.yaml", "-n", "--nolock", "--forceall"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    trains = re.search(r"^train\s+(\d+)$", done.stdout + done.stderr, re.MULTILINE)
    monkeypatch.chdir(tmp_path)
    assert trains and int(trains[1]) == len(expand_runs(read_plan("config/paper.yaml")))
