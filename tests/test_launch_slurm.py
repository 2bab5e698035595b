"""The launcher on the real local SLURM cluster (slurm/local-cluster.sh start).

Skipped, like test_slurm_cluster.py (both use shared.py's probe), when no cluster answers;
failed instead with REPLICATION_REQUIRE_SLURM=1. Every job is a tiny CPU training with one core
per task; the reference and the preempted run share the 2-core node, then the DDP job takes it.
Jobs still queued when a test ends are cancelled.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from shared import ROOT, TEST_MULTIGRID, require_cluster, skip_module_without_cluster

from replication.cluster.jobs import submit, wait_for
from replication.cluster.profile import SlurmProfile, load_profile
from replication.io import events as ev
from replication.schedule import build_schedule

skip_module_without_cluster()
pytestmark = pytest.mark.slurm
JOB_TIMEOUT_S = 300  # generous: a requeued job waits ~15 s, and the node may be shared
ONE_CORE = "cpus_per_task: 1\nmem_gb: 2\ntimeout_min: 60\nsignal_delay_s: 60\n"
# Long enough (about 150 iterations) that USR2 lands while the job trains.
LONGER = ("solver.max_epoch=20", "solver.steps=[0,14]")


def run_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def read_log(run_dir: Path) -> list[dict]:
    return ev.read_events(run_dir / "events.jsonl")


def of(log: list[dict], kind: str) -> list[dict]:
    return [e for e in log if e["event"] == kind]


def job_ids(run_dir: Path) -> list[str]:
    return sorted(p.name.split("_")[0] for p in (run_dir / "submitit").glob("*_submission.sh"))


def cancel_jobs(*run_dirs: Path) -> None:
    """Cancel the jobs of a failed test (never a finished one: sacct would call it CANCELLED)."""
    ids = [i for d in run_dirs if (d / "submitit").is_dir() for i in job_ids(d)]
    if ids:
        subprocess.run(["scancel", *ids], capture_output=True, timeout=30)


def launch_cli(args: list[str], run_dir: Path, timeout_s: float) -> subprocess.CompletedProcess:
    """``python -m replication launch ARGS``; its job is cancelled if it outlives the timeout."""
    try:
        return subprocess.run([sys.executable, "-m", "replication", "launch", *args],
                              capture_output=True, text=True, timeout=timeout_s, env=run_env())  # fmt: skip
    except BaseException:
        cancel_jobs(run_dir)
        raise


def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}", pytrace=False)
        time.sleep(0.1)


@pytest.fixture(scope="module")
def runs(tiny_config, tmp_path_factory):
    """A reference run through the CLI (as Snakemake calls it) and, beside it on the node, the
    same training submitted to be preempted. Both start at once; the tests then look at them."""
    require_cluster()
    root = tmp_path_factory.mktemp("launch_slurm")
    cfg = tiny_config(*LONGER)
    config = write(root / "exp.yaml", yaml.safe_dump(cfg.to_dict()))
    profile = write(root / "one_core.yaml", ONE_CORE)
    reference, preempted = root / "reference", root / "preempted"
    out, err = open(root / "cli.out", "w+"), open(root / "cli.err", "w+")  # noqa: SIM115
    command = [sys.executable, "-m", "replication", "launch", config, "--run-dir", str(reference),
               "--cluster", "slurm", "--slurm", profile]  # fmt: skip
    cli = subprocess.Popen(command, stdout=out, stderr=err, text=True, env=run_env())
    # Its own frame cache: the two jobs start together, and need not build one cache at once.
    own_cache = f"data.cache_dir={root / 'preempted_cache'}"
    job = submit(tiny_config(*LONGER, own_cache), preempted, "slurm", load_profile(profile))
    yield {"cli": cli, "command": command, "out": out, "err": err, "job": job, "cfg": cfg,
           "reference": reference, "preempted": preempted}  # fmt: skip
    if cli.poll() is None:
        cli.terminate()  # the command cancels its job on SIGTERM
        cli.wait(timeout=60)
    if not job.done():
        job.cancel(check=False)
    out.close()
    err.close()


def cli_result(runs) -> tuple[int, str, str]:
    """Wait for the reference command; returns its exit code, stdout and stderr."""
    try:
        code = runs["cli"].wait(timeout=JOB_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"launch did not return within {JOB_TIMEOUT_S} s", pytrace=False)
    runs["out"].seek(0)
    runs["err"].seek(0)
    return code, runs["out"].read(), runs["err"].read()


def test_preempted_job_checkpoints_requeues_and_ends_like_an_uninterrupted_one(runs):
    job, run = runs["job"], runs["preempted"]
    wait_until(
        lambda: (run / "events.jsonl").is_file() and of(read_log(run), ev.TRAIN),
        JOB_TIMEOUT_S,
        f"job {job.job_id} to start training",
    )
    # What SLURM sends before a time limit or on preemption (submitit's own _interrupt does this).
    subprocess.run(["scancel", "--signal=USR2", job.job_id], check=True, timeout=30)
    outcome = wait_for(job, timeout_s=JOB_TIMEOUT_S)
    assert outcome.summary is not None, f"{outcome.error} (log: {outcome.log})"
    code, _, err = cli_result(runs)
    assert code == 0, err
    reference = json.loads((runs["reference"] / "summary.json").read_text())
    assert outcome.summary["metrics"] == reference["metrics"]
    assert outcome.summary["steps"] == reference["steps"]

    log, ref_log = read_log(run), read_log(runs["reference"])
    starts = of(log, ev.RUN_START)
    assert [s["resumed"] for s in starts] == [False, True]  # one restart, visible in the log
    assert "_iter" in starts[1]["resumed_from"]  # from the checkpoint USR2 had written mid-epoch
    rank0_log = (run / "submitit" / f"{job.job_id}_0_log.err").read_text()
    assert "USR2: stopping at the next iteration" in rank0_log
    assert "checkpoint written; requeueing" in rank0_log and "restarts 1" in rank0_log
    # Nothing missing, nothing twice, and every step exactly as in the uninterrupted run.
    epochs = [e["epoch"] for e in of(log, ev.EPOCH)]
    assert epochs == list(range(build_schedule(runs["cfg"]).max_epoch))
    steps = [(e["step"], e["loss"]) for e in of(log, ev.TRAIN)]
    assert steps == [(e["step"], e["loss"]) for e in of(ref_log, ev.TRAIN)]
    per_epoch = [[(e["loss"], e["clips"]) for e in of(x, ev.EPOCH)] for x in (log, ref_log)]
    assert per_epoch[0] == per_epoch[1]


def test_cli_prints_job_logs_and_metrics_and_skips_a_finished_run(runs):
    code, out, err = cli_result(runs)
    assert code == 0, err
    reference = runs["reference"]
    summary = json.loads((reference / "summary.json").read_text())
    assert out.splitlines() == [json.dumps(summary["metrics"])]
    (job_id,) = job_ids(reference)
    assert f"launch: submitted job {job_id} (slurm, 1 task(s))" in err
    assert f"{reference}/submitit/{job_id}_0_log.out" in err
    assert f"launch: job {job_id} is RUNNING" in err
    # Again: no second job, the stored metrics at once.
    again = launch_cli(runs["command"][4:], reference, 120)
    assert again.returncode == 0, again.stderr
    assert again.stdout == out and "holds a finished run; nothing submitted" in again.stderr
    assert job_ids(reference) == [job_id]


def test_two_task_ddp_job_trains_every_rank_on_the_same_grids(tiny_config, tmp_path):
    require_cluster()
    cfg = tiny_config("train.num_gpus=2", "train.batch_size=4")
    profile = SlurmProfile.model_validate(yaml.safe_load(ONE_CORE) | {"tasks_per_node": 2})
    run = tmp_path / "run"
    try:
        outcome = wait_for(submit(cfg, run, "slurm", profile), timeout_s=JOB_TIMEOUT_S)
    except BaseException:
        cancel_jobs(run)
        raise
    assert outcome.summary is not None, f"{outcome.error} (log: {outcome.log})"
    log = read_log(run)
    assert len(of(log, ev.RUN_START)) == 1  # rank 0 alone writes the log...
    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert len(checkpoints) == len(of(log, ev.CHECKPOINT))  # ...and the checkpoints
    steps = of(log, ev.TRAIN)
    assert steps and all(len(e["rank_grids"]) == 2 for e in steps)
    assert all(e["rank_grids"][0] == e["rank_grids"][1] for e in steps)  # same grid, same step
    assert all(e["batch_size"] == 2 * e["rank_grids"][0][3] for e in steps)  # global batch
    schedule = build_schedule(cfg)
    for phase in of(log, ev.PHASE):
        plan = schedule.epochs[phase["epoch"]]
        assert phase["batch_size"] == plan.batch_size == 2 * plan.per_gpu_batch_size
    for e in steps:  # each rank's clips per grid, as the schedule gives one process of two
        plan = schedule.epochs[e["epoch"]]
        sizes = (
            [g.batch_size for g in plan.short_cycle]
            if plan.short_cycle
            else [plan.per_gpu_batch_size]
        )
        assert e["rank_grids"][0][3] == sizes[e["grid"]]
    # Evaluation gathered both ranks' shards: all 12 videos, and rank 1 saw the same metrics.
    assert outcome.summary["metrics"]["videos"] == 12
    rank1 = (run / "submitit" / f"{outcome.job_id}_1_log.err").read_text()
    assert f"finished: {json.dumps(outcome.summary['metrics'])}" in rank1


def test_profile_no_node_can_run_fails_before_submission(tmp_path):
    require_cluster()
    cpus = max(int(c) for c in subprocess.run(["sinfo", "-h", "-o", "%c"], capture_output=True,
                                              text=True, timeout=30).stdout.split())  # fmt: skip
    profile = write(tmp_path / "big.yaml", f"cpus_per_task: {cpus + 1}\n")
    run = tmp_path / "run"
    proc = launch_cli([str(TEST_MULTIGRID), "--run-dir", str(run),
                       "--cluster", "slurm", "--slurm", profile], run, 120)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"error: {profile}: cpus_per_task: 1 task(s) x {cpus + 1} CPUs = {cpus + 1} CPUs per "
        f"node, but the largest node of the default partition has {cpus}"
    ]
    assert not run.exists()  # nothing submitted, nothing written


def test_failing_job_exits_1_with_its_error(tiny_config, tmp_path):
    require_cluster()
    missing = tmp_path / "missing.csv"
    cfg = tiny_config(f"data.val_annotations={missing}")
    config = write(tmp_path / "exp.yaml", yaml.safe_dump(cfg.to_dict()))
    run = tmp_path / "run"
    proc = launch_cli([config, "--run-dir", str(run), "--cluster", "slurm", "--slurm",
                       write(tmp_path / "p.yaml", ONE_CORE)], run, JOB_TIMEOUT_S)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == ""
    (error,) = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    (job_id,) = job_ids(run)
    assert error.startswith(f"error: job {job_id} failed: ")
    assert str(missing) in error and f"(log: {run}/submitit/{job_id}_0_log.err)" in error
