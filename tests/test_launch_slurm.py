"""The launcher on the real local SLURM cluster (slurm/local-cluster.sh start).

Skipped, like test_slurm_cluster.py (both use shared.py's probe), when no cluster answers;
failed instead with REPLICATION_REQUIRE_SLURM=1. Every job is a tiny CPU training with one core
per task; the reference and the preempted run share the 2-core node, then the DDP job takes it.
Jobs still queued when a test ends are cancelled.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from shared import ROOT, TEST_MULTIGRID, require_cluster, skip_module_without_cluster

from replication.cluster.jobs import submit, wait_for
from replication.cluster.profile import load_profile
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


def scontrol_on_path(folder: Path, on_requeue: str) -> str:
    """A profile ``setup`` line that puts an ``scontrol`` on the job's PATH which runs
    ``on_requeue`` (shell) for ``scontrol requeue`` and is the real one otherwise."""
    folder.mkdir(parents=True, exist_ok=True)
    real = subprocess.run(["which", "scontrol"], capture_output=True, text=True).stdout.strip()
    write(folder / "scontrol", f'#!/bin/sh\nif [ "$1" = requeue ]; then {on_requeue}; fi\n'
                               f'exec {real} "$@"\n')  # fmt: skip
    (folder / "scontrol").chmod(0o755)
    return f"setup: ['export PATH={folder}:$PATH']\n"


def slow_requeue(folder: Path) -> str:
    """A profile whose requeue takes a second longer, through a shell wrapper: the double
    signal's second USR2 then lands while the first is handled, while the checkpoint is awaited
    or during the requeue, where without ``ignore_usr2_from_now`` it killed the wrapper and the
    job failed (sent back to back instead, the two arrived 8 ms apart in one CI run and Python
    saw one signal)."""
    return ONE_CORE + scontrol_on_path(folder, "sleep 1")


def wait_until(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}", pytrace=False)
        time.sleep(0.1)


class Launched:
    """``python -m replication launch`` running in the background, as Snakemake runs it."""

    def __init__(self, config: str, run_dir: Path, profile: str) -> None:
        self.run_dir, self.command = run_dir, [
            sys.executable, "-m", "replication", "launch", config, "--run-dir", str(run_dir),
            "--cluster", "slurm", "--slurm", profile,
        ]  # fmt: skip
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        self.out = open(run_dir.parent / f"{run_dir.name}.out", "w+")  # noqa: SIM115
        self.err = open(run_dir.parent / f"{run_dir.name}.err", "w+")  # noqa: SIM115
        self.proc = subprocess.Popen(self.command, stdout=self.out, stderr=self.err, text=True,
                                     env=run_env())  # fmt: skip

    def result(self) -> tuple[int, str, str]:
        """Wait for the command; its exit code, stdout and stderr."""
        try:
            code = self.proc.wait(timeout=JOB_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"launch did not return within {JOB_TIMEOUT_S} s", pytrace=False)
        self.out.seek(0)
        self.err.seek(0)
        return code, self.out.read(), self.err.read()

    def close(self) -> None:
        """Stop the command if a test failed (it cancels its job on SIGTERM)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=60)
        cancel_jobs(self.run_dir)
        self.out.close()
        self.err.close()


def rank0_log(run_dir: Path, job_id: str) -> str:
    path = run_dir / "submitit" / f"{job_id}_0_log.err"
    return path.read_text() if path.is_file() else ""


def trained_since(run_dir: Path, since: float) -> bool:
    """Whether the run has logged a training step after ``since`` (Unix time)."""
    path = run_dir / "events.jsonl"
    return path.is_file() and any(e["time_s"] > since for e in of(read_log(run_dir), ev.TRAIN))


def preempt(run_dir: Path, seed: int) -> str:
    """USR2 at seeded random moments of three successive job runs, then twice at once.

    Each single signal goes 0-4 s after a job run has started (its ``restarts N`` line): during
    set-up (frame cache, model, FLOP counting), the first iterations after a restart, or
    training. The double one goes once the fourth run trains: its second signal goes as soon as
    rank 0 logs that it acts on the first, so it lands while the first is handled (the
    profile's :func:`slow_requeue` keeps that window over a second long): it is logged as
    "USR2 again" while the checkpoint is awaited, ignored without a word during the requeue.
    Returns the job id.
    """
    wait_until(lambda: job_ids(run_dir), JOB_TIMEOUT_S, f"a job in {run_dir}")
    (job_id,) = job_ids(run_dir)
    rng = random.Random(seed)
    for attempt in range(4):
        wait_until(lambda n=attempt: f"restarts {n};" in rank0_log(run_dir, job_id),
                   JOB_TIMEOUT_S, f"run {attempt} of job {job_id}")  # fmt: skip
        if attempt < 3:
            time.sleep(rng.uniform(0.0, 4.0))
            usr2(job_id)
    began = time.time()
    wait_until(lambda: trained_since(run_dir, began), JOB_TIMEOUT_S, "training")
    acting = rank0_log(run_dir, job_id).count(ACTING)
    usr2(job_id)
    wait_until(lambda: rank0_log(run_dir, job_id).count(ACTING) > acting, JOB_TIMEOUT_S,
               "rank 0 to act on the first of two signals")  # fmt: skip
    usr2(job_id)
    return job_id


ACTING = "USR2: stopping at the next iteration"


def usr2(job_id: str) -> None:
    subprocess.run(["scancel", "--signal=USR2", job_id], check=True, timeout=30)


def sacct_states(job_id: str) -> list[str]:
    """Every run of the job as accounting recorded it (``-D``: requeued runs too)."""
    done = subprocess.run(["sacct", "-j", job_id, "-D", "-X", "-n", "-P", "-o", "State"],
                          capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def assert_like_the_reference(run: Path, reference: Path, cfg) -> None:
    """Same steps, losses and metrics as the uninterrupted run; every epoch logged once."""
    log, ref_log = read_log(run), read_log(reference)
    summary, ref = (json.loads((d / "summary.json").read_text()) for d in (run, reference))
    assert summary["metrics"] == ref["metrics"] and summary["steps"] == ref["steps"]
    epochs = [e["epoch"] for e in of(log, ev.EPOCH)]
    assert epochs == list(range(build_schedule(cfg).max_epoch))
    steps = [(e["step"], e["loss"]) for e in of(log, ev.TRAIN)]
    assert steps == [(e["step"], e["loss"]) for e in of(ref_log, ev.TRAIN)]
    per_epoch = [[(e["loss"], e["clips"]) for e in of(x, ev.EPOCH)] for x in (log, ref_log)]
    assert per_epoch[0] == per_epoch[1]


@pytest.fixture(scope="module")
def runs(tiny_config, tmp_path_factory):
    """A reference run and, beside it on the node, the same training to be preempted; both
    through the CLI (as Snakemake calls it), both with a loader worker (SLURM signals every
    process of a job, workers included). Both start at once; the tests then look at them."""
    require_cluster()
    root = tmp_path_factory.mktemp("launch_slurm")
    cfg = tiny_config(*LONGER, "data.num_workers=1")
    config = write(root / "exp.yaml", yaml.safe_dump(cfg.to_dict()))
    profile = write(root / "one_core.yaml", slow_requeue(root / "bin"))
    reference = Launched(config, root / "reference", profile)
    # Its own frame cache: the two jobs start together, and need not build one cache at once.
    own = write(
        root / "own_cache.yaml",
        yaml.safe_dump(
            tiny_config(*LONGER, "data.num_workers=1", f"data.cache_dir={root / 'cache'}").to_dict()
        ),
    )
    preempted = Launched(own, root / "preempted", profile)
    yield {"reference": reference, "preempted": preempted, "cfg": cfg}
    reference.close()
    preempted.close()


def test_preempted_job_requeues_once_per_preemption_and_ends_like_an_uninterrupted_one(runs):
    launched, run = runs["preempted"], runs["preempted"].run_dir
    job_id = preempt(run, seed=20261202)
    code, out, err = launched.result()
    assert code == 0, err  # launch waited through every requeue and reported the end
    assert out.splitlines() == [
        json.dumps(json.loads((run / "summary.json").read_text())["metrics"])
    ]
    assert "error" not in err and f"launch: job {job_id} is PENDING" in err
    assert runs["reference"].result()[0] == 0
    assert_like_the_reference(run, runs["reference"].run_dir, runs["cfg"])
    # One requeue per preemption, the double signal included, by rank 0's main process alone.
    assert sacct_states(job_id) == ["REQUEUED"] * 4 + ["COMPLETED"]
    log = rank0_log(run, job_id)
    acted = log.count(ACTING) + log.count("USR2 before training")
    assert acted == 4
    assert "no checkpoint within" not in log and "restarts 4;" in log
    starts = of(read_log(run), ev.RUN_START)
    assert starts[0]["resumed"] is False and all(s["resumed"] for s in starts[1:])


def test_cli_prints_job_logs_and_metrics_and_skips_a_finished_run(runs):
    code, out, err = runs["reference"].result()
    assert code == 0, err
    reference = runs["reference"].run_dir
    summary = json.loads((reference / "summary.json").read_text())
    assert out.splitlines() == [json.dumps(summary["metrics"])]
    (job_id,) = job_ids(reference)
    assert f"launch: submitted job {job_id} (slurm, 1 task(s))" in err
    assert f"{reference}/submitit/{job_id}_0_log.out" in err
    assert f"launch: job {job_id} is RUNNING" in err
    # Again: no second job, the stored metrics at once.
    again = launch_cli(runs["reference"].command[4:], reference, 120)
    assert again.returncode == 0, again.stderr
    assert again.stdout == out and "holds a finished run; nothing submitted" in again.stderr
    assert job_ids(reference) == [job_id]


TWO_TASKS = ("train.num_gpus=2", "train.batch_size=4", "data.num_workers=1")


@pytest.fixture(scope="module")
def ddp(tiny_config, tmp_path_factory):
    """A 2-task DDP training (gloo, one core and one loader worker per rank), uninterrupted."""
    require_cluster()
    root = tmp_path_factory.mktemp("ddp")
    cfg = tiny_config(*LONGER, *TWO_TASKS)
    profile = write(root / "two_tasks.yaml", slow_requeue(root / "bin") + "tasks_per_node: 2\n")
    run = root / "reference"
    try:
        outcome = wait_for(
            submit(cfg, run, "slurm", load_profile(profile)), timeout_s=JOB_TIMEOUT_S
        )
    except BaseException:
        cancel_jobs(run)
        raise
    yield {"cfg": cfg, "run": run, "outcome": outcome, "root": root, "profile": profile}
    cancel_jobs(run)


def test_two_task_ddp_job_trains_every_rank_on_the_same_grids(ddp):
    cfg, run, outcome = ddp["cfg"], ddp["run"], ddp["outcome"]
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


def test_preempted_ddp_job_requeues_once_per_preemption_and_ends_like_an_uninterrupted_one(ddp):
    config = write(ddp["root"] / "exp.yaml", yaml.safe_dump(ddp["cfg"].to_dict()))
    launched = Launched(config, ddp["root"] / "preempted", ddp["profile"])
    try:
        job_id = preempt(launched.run_dir, seed=2020)
        code, _, err = launched.result()
    finally:
        launched.close()
    assert code == 0, err
    assert_like_the_reference(launched.run_dir, ddp["run"], ddp["cfg"])
    assert sacct_states(job_id) == ["REQUEUED"] * 4 + ["COMPLETED"]
    log = rank0_log(launched.run_dir, job_id)
    acted = log.count(ACTING) + log.count("USR2 before training")
    assert acted == 4
    rank1 = (launched.run_dir / "submitit" / f"{job_id}_1_log.err").read_text()
    assert "USR2: stopping" not in rank1  # only rank 0's main process acts on the signal


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


def test_a_requeue_that_fails_is_one_line_and_exit_1(tiny_config, tmp_path):
    """scontrol refusing the requeue (here: a stand-in on the job's PATH) ends the job honestly."""
    require_cluster()
    profile = write(tmp_path / "p.yaml", ONE_CORE + scontrol_on_path(tmp_path / "bin", "exit 1"))
    config = write(tmp_path / "exp.yaml", yaml.safe_dump(tiny_config(*LONGER).to_dict()))
    launched = Launched(config, tmp_path / "run", profile)
    try:
        wait_until(lambda: job_ids(launched.run_dir), JOB_TIMEOUT_S, "the job")
        (job_id,) = job_ids(launched.run_dir)
        wait_until(lambda: "restarts 0;" in rank0_log(launched.run_dir, job_id), JOB_TIMEOUT_S,
                   "the job to start")  # fmt: skip
        subprocess.run(["scancel", "--signal=USR2", job_id], check=True, timeout=30)
        code, out, err = launched.result()
    finally:
        launched.close()
    assert code == 1 and out == ""
    (error,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert error.startswith(f"error: job {job_id} failed: RuntimeError: requeue failed: ")
    assert f"scontrol requeue {job_id}` exited 1" in error
    assert "REQUEUED" not in sacct_states(job_id)


def test_a_job_cancelled_without_warning_resumes_from_its_last_checkpoint(runs, tiny_config):
    """scancel (SIGTERM, then SIGKILL after KillWait): the launch reports it; launching again
    resumes from the newest checkpoint on disk and ends like the uninterrupted run."""
    root = runs["reference"].run_dir.parent
    config = write(root / "exp.yaml", yaml.safe_dump(runs["cfg"].to_dict()))
    launched = Launched(config, root / "cancelled", write(root / "one_core.yaml", ONE_CORE))
    try:
        began = time.time()
        wait_until(lambda: trained_since(launched.run_dir, began), JOB_TIMEOUT_S, "training")
        (job_id,) = job_ids(launched.run_dir)
        subprocess.run(["scancel", job_id], check=True, timeout=30)
        code, _, err = launched.result()
    finally:
        launched.close()
    assert code == 1, err
    (error,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert error.startswith(f"error: job {job_id} failed: cancelled (CANCELLED")
    assert "TERM: stopping at the next iteration to checkpoint" in rank0_log(
        launched.run_dir, job_id
    )
    again = launch_cli(launched.command[4:], launched.run_dir, JOB_TIMEOUT_S)
    assert again.returncode == 0, again.stderr
    assert "resuming the unfinished run" in again.stderr
    assert_like_the_reference(launched.run_dir, runs["reference"].run_dir, runs["cfg"])
