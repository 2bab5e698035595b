"""The ``launch`` command: refuse what cannot run, submit, wait, and report in a few lines.

Everything that can be checked before a job exists is checked first (config, profile, the
cluster's nodes, the run folder), so a bad input costs no queue time and leaves nothing behind:
one line naming the file and key, exit 2. A finished run is not submitted again. While waiting,
progress goes to stderr (job id, log files, scheduler states); the last stdout line is the final
metrics as JSON. A failed job exits 1 with its error in one line and the log to read. The job
itself and everything submitit does live in :mod:`replication.cluster.jobs`.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from replication.cluster.jobs import Cluster, Job, error_line, log_paths, submit, wait_for
from replication.cluster.nodes import check_fits_nodes, partition_nodes
from replication.cluster.profile import SlurmProfile, check_matches_config, load_profile
from replication.config import ConfigError, RunConfig, config_diff
from replication.io.run_paths import RunPaths
from replication.schedule import load_schedule


def check_run_folder(cfg: RunConfig, run_dir: Path, source: str) -> None:
    """Refuse to continue a run folder that holds a run of another config.

    Raises:
        ConfigError: naming ``source`` and the first key that differs.
    """
    stored = RunPaths(run_dir).config
    if not stored.is_file():
        return
    for key, old, new in config_diff(json.loads(stored.read_text()), cfg.to_dict())[:1]:
        raise ConfigError(
            key,
            f"{new!r} differs from {old!r} of the run in {run_dir}; "
            "use another --run-dir (or delete that one) to train this config",
            source,
        )


def check_resources(
    cluster: Cluster, profile: SlurmProfile, cfg: RunConfig, profile_source: str
) -> None:
    """Everything about the job's shape that would fail only after submission.

    Raises:
        ConfigError: naming the profile and key at fault.
    """
    check_matches_config(profile, cfg, profile_source)
    if cluster == "debug" and profile.num_tasks > 1:
        raise ConfigError(
            "tasks_per_node", "the debug cluster runs one task in this process", profile_source
        )
    if cluster == "local":
        if profile.nodes > 1:
            raise ConfigError("nodes", "the local cluster is this one machine", profile_source)
        cores = os.cpu_count() or 1
        if profile.tasks_per_node * profile.cpus_per_task > cores:
            raise ConfigError(
                "cpus_per_task",
                f"{profile.tasks_per_node} task(s) x {profile.cpus_per_task} CPUs, but this "
                f"machine has {cores}",
                profile_source,
            )
    if cluster == "slurm":
        nodes = partition_nodes(profile.partition)
        if nodes is not None:  # no sinfo answer: let sbatch judge
            check_fits_nodes(profile, nodes, profile_source)


def run_launch(
    config: str,
    run_dir: str,
    cluster: Cluster,
    profile_path: str | None = None,
    overrides: tuple[str, ...] = (),
    wait: bool = True,
) -> int:
    """``python -m replication launch``: check, submit, wait; returns the exit code.

    A finished run is not submitted again: its stored metrics are printed. An unfinished one is
    submitted and resumes from its last checkpoint. Progress goes to stderr; on success the
    final metrics are the one line on stdout.

    Raises:
        ConfigError: for a bad config or profile, before anything is submitted.
    """
    cfg, _ = load_schedule(config, overrides)  # every config error before anything is queued
    profile = load_profile(profile_path) if profile_path else SlurmProfile()
    source = profile_path or "the default profile (one task; a local job gets a GPU if any)"
    check_resources(cluster, profile, cfg, source)
    paths = RunPaths(Path(run_dir))
    check_run_folder(cfg, paths.root, config)
    if paths.summary.is_file():
        _note(f"{run_dir} holds a finished run; nothing submitted (delete it to train again)")
        print(json.dumps(json.loads(paths.summary.read_text())["metrics"]))
        return 0
    resume = paths.latest_checkpoint()
    if resume is not None:
        _note(f"resuming the unfinished run in {run_dir} from {resume.name}")
    # Without a profile, local and debug runs use every core, as `train` does.
    cpus = profile.cpus_per_task if profile_path else None
    try:
        job = submit(cfg, paths.root, cluster, profile, cpus=cpus)
    except Exception as err:  # sbatch refused (or is missing): say so in one line
        print(f"error: submission to {cluster} failed: {error_line(str(err))}", file=sys.stderr)
        return 1
    _note(f"submitted job {job.job_id} ({cluster}, {profile.num_tasks} task(s))")
    if cluster == "debug":
        _note("it runs in this process; its messages follow")
    else:
        _note("logs: {} and {}".format(*log_paths(job)))
    if not wait:
        return 0
    with _cancel_on_termination(job):
        outcome = wait_for(job, on_state=lambda state: _note(f"job {job.job_id} is {state}"))
    if outcome.summary is None:
        print(
            f"error: job {outcome.job_id} failed: {outcome.error} (log: {outcome.log})",
            file=sys.stderr,
        )
        return 1
    _note(f"job {outcome.job_id} finished; run folder {run_dir}")
    print(json.dumps(outcome.summary["metrics"]))
    return 0


def _note(message: str) -> None:
    print(f"launch: {message}", file=sys.stderr, flush=True)


@contextmanager
def _cancel_on_termination(job: Job) -> Iterator[None]:
    """Cancel the job when the waiting command is interrupted (Ctrl-C, or a workflow's SIGTERM).

    An orphaned job would go on writing the run folder that a relaunch then shares.
    """

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    except KeyboardInterrupt:
        _note(f"interrupted: cancelling job {job.job_id}")
        job.cancel(check=False)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
