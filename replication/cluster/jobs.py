"""Run a training as a submitit job: on SLURM, as local processes, or in this process (debug).

The one module that imports submitit. Two halves:

* **Submission** (:func:`submit`, :func:`wait_for`): an executor from a
  :class:`~replication.cluster.profile.SlurmProfile`, a :class:`TrainingJob` submitted with its
  logs under ``<run>/submitit/``, and its outcome once it ends (the ``launch`` command around
  them is :mod:`replication.cluster.launch`).
* **The job** (:class:`TrainingJob`): one instance per task. It starts ``torch.distributed`` when
  the job has several tasks, then runs :func:`replication.engine.loop.train` in a worker thread
  while the main thread waits for signals (:mod:`replication.cluster.signals`). On SLURM's
  time-limit or preemption signal (USR2), submitit calls :meth:`TrainingJob.checkpoint` in the
  main thread: it asks the training to stop, waits until rank 0 has saved, and hands submitit a
  fresh job to requeue, which resumes from the run folder. Training in the main thread could not
  work: the process ends right after ``checkpoint()`` returns, so the loop would never reach its
  next check.
"""

from __future__ import annotations

import datetime
import json
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import submitit

from replication.cluster.gpus import local_gpus
from replication.cluster.profile import SlurmProfile
from replication.cluster.signals import Running, ignore_usr2_from_now, install, say
from replication.config import RunConfig
from replication.io.run_paths import RunPaths

Cluster = Literal["slurm", "local", "debug"]
Job = submitit.Job  # for type hints elsewhere, which then need not import submitit
# Folder that holds the `replication` package: the job must import this very code, not whatever
# an installed copy elsewhere would give it.
_CODE_ROOT = Path(__file__).resolve().parents[2]


# =========================================================================== the job


class TrainingJob(submitit.helpers.Checkpointable):
    """One task of a training job; picklable, so submitit can send it to the cluster.

    Args:
        cfg: the resolved experiment config.
        run_dir: the run folder (shared by every node and every restart).
        cpus: cores of each task (torch threads on a CPU); None uses what the process may use.
        stop_timeout_s: how long ``checkpoint()`` waits for the training to stop and save; after
            that the job is requeued anyway and resumes from the last checkpoint on disk.
    """

    def __init__(
        self, cfg: RunConfig, run_dir: str, cpus: int | None, stop_timeout_s: float
    ) -> None:
        self.cfg = cfg
        self.run_dir = run_dir
        self.cpus = cpus
        self.stop_timeout_s = stop_timeout_s
        self._running: Running | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_running": None}  # events and threads do not pickle

    def __call__(self) -> dict[str, Any] | None:
        """Train (or resume) the run; returns its summary, on every rank."""
        env = submitit.JobEnvironment()
        rank, world = env.global_rank, env.num_tasks
        if "SUBMITIT_FOLDER" in os.environ:  # not in a debug job
            # A result left by this task before a requeue would make the job look finished.
            env.paths.result_pickle.unlink(missing_ok=True)
        running = self._running = Running()
        # Before the line below: tests (and users) signal once they see it.
        install(running, self.stop_timeout_s, partial(_record_failure, env))
        restarts = os.environ.get("SLURM_RESTART_COUNT", "0")
        say(f"{env}; restarts {restarts}; run folder {self.run_dir}")
        with _process_group(env, world) as device:
            box: dict[str, Any] = {}
            worker = threading.Thread(
                target=self._train, args=(rank, world, device, box), name="train", daemon=True
            )
            worker.start()
            running.started.set()  # after start(): a signal handled here never waits in vain
            while worker.is_alive():  # short joins: the main thread must stay free for signals
                worker.join(0.5)
        if "error" in box:
            raise box["error"]
        summary = box.get("summary")
        if summary is None:
            if rank == 0:  # only checkpoint() stops rank 0, and then submitit exits the process
                raise RuntimeError("training stopped, but no requeue was requested")
            # Ends while rank 0 requeues: a repeated USR2 must not kill it as Python shuts down
            ignore_usr2_from_now()  # (srun would end the step and the requeue; seen in CI)
            say("stopped for a requeue (rank 0 checkpoints and requeues the job)")
        else:
            say(f"finished: {json.dumps(summary['metrics'])}")
        return summary

    def _train(self, rank: int, world: int, device: Any, box: dict[str, Any]) -> None:
        from replication.engine.loop import train  # torch and the models load in the job only
        from replication.engine.setup import process_started

        running = self._running
        assert running is not None
        # A job process of its own (SLURM, local) counts from its start; a debug job's process
        # is the caller's, so it counts from here.
        own = "SUBMITIT_FOLDER" in os.environ
        started = process_started(time.perf_counter()) if own else None
        try:
            box["summary"] = train(
                self.cfg,
                Path(self.run_dir),
                rank=rank,
                world_size=world,
                should_stop=_stop_agreement(running.stop, world, device),
                stop_requested=running.stop.is_set,
                progress=False,
                cpus=self.cpus or int(os.environ.get("SLURM_CPUS_PER_TASK", "0")) or None,
                job_started=started,
            )
        except BaseException as err:
            box["error"] = err
        finally:
            running.finished.set()

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        """Stop the training, wait for its checkpoint, and return the job to requeue.

        submitit calls this in rank 0's main thread on USR2, then requeues and exits.
        """
        running = self._running
        if running is not None and running.stop_and_wait(self.stop_timeout_s, "USR2"):
            say("checkpoint written; requeueing")  # or none needed: nothing new since one
        else:
            say("requeueing; the job resumes from the newest checkpoint on disk")
        ignore_usr2_from_now()  # a second USR2 must not kill `scontrol requeue`
        fresh = TrainingJob(self.cfg, self.run_dir, self.cpus, self.stop_timeout_s)
        return submitit.helpers.DelayedSubmission(fresh)


@contextmanager
def _process_group(env: submitit.JobEnvironment, world: int) -> Iterator[Any]:
    """torch.distributed over the job's tasks (gloo on CPUs, NCCL on GPUs); yields the device."""
    import torch
    import torch.distributed as dist

    cuda = torch.cuda.is_available()
    device = torch.device("cuda", env.local_rank % torch.cuda.device_count()) if cuda else None
    if device is not None:
        torch.cuda.set_device(device)
    if world == 1:
        yield device or torch.device("cpu")
        return
    # One port per job and restart: a requeued job never waits for the old port to be released.
    key = f"{env.job_id}.{os.environ.get('SLURM_RESTART_COUNT', '0')}".encode()
    os.environ["MASTER_PORT"] = str(20000 + zlib.crc32(key) % 30000)
    submitit.helpers.TorchDistributedEnvironment().export(
        set_cuda_visible_devices=False, overwrite=True
    )
    dist.init_process_group("nccl" if cuda else "gloo", timeout=datetime.timedelta(minutes=30))
    try:
        yield device or torch.device("cpu")
    finally:
        dist.destroy_process_group()


def _stop_agreement(stop: threading.Event, world: int, device: Any) -> Callable[[], bool]:
    """``should_stop`` for train(): every rank stops at the same iteration.

    Only rank 0 receives ``checkpoint()``, so with several tasks the flag is all-reduced each
    iteration (one tiny collective; the ranks are in lockstep at that point anyway).
    """
    if world == 1:
        return stop.is_set

    def agreed() -> bool:
        import torch
        import torch.distributed as dist

        flag = torch.tensor([1 if stop.is_set() else 0], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())

    return agreed


# =========================================================================== submission


@dataclass(frozen=True)
class Outcome:
    """How a job ended: its summary on success, else one line of error and the log to read."""

    job_id: str
    summary: dict[str, Any] | None
    error: str = ""
    log: Path | None = None


def _record_failure(env: submitit.JobEnvironment, message: str) -> None:
    """Write ``message`` as this task's error, where submitit keeps a job's result."""
    if "SUBMITIT_FOLDER" not in os.environ:  # a debug job has no result file
        return
    with submitit.core.utils.temporary_save_path(env.paths.result_pickle) as tmp:
        submitit.core.utils.cloudpickle_dump(("error", f"RuntimeError: {message}"), tmp)


def make_executor(
    cluster: Cluster, folder: Path, profile: SlurmProfile, job_name: str
) -> submitit.Executor:
    """A submitit executor for ``cluster`` with the profile's resources."""
    if cluster == "debug":
        return submitit.DebugExecutor(folder)
    # The job imports the code that submitted it, whatever else the environment has installed.
    setup = [f"export PYTHONPATH={_CODE_ROOT}${{PYTHONPATH:+:$PYTHONPATH}}", *profile.setup]
    if cluster == "local":
        executor = submitit.LocalExecutor(folder, max_num_timeout=profile.max_timeout_requeues)
        gpus, visible = local_gpus(profile)
        if visible is not None:  # device UUIDs, which submitit's visible_gpus cannot name
            setup.append(f"export CUDA_VISIBLE_DEVICES={visible}")
        executor.update_parameters(
            timeout_min=profile.timeout_min,
            tasks_per_node=profile.tasks_per_node,
            gpus_per_node=len(gpus),
            visible_gpus=gpus,
            signal_delay_s=profile.signal_delay_s,
            setup=setup,
        )
        return executor
    executor = submitit.SlurmExecutor(folder, max_num_timeout=profile.max_timeout_requeues)
    optional = {
        "partition": profile.partition,
        "account": profile.account,
        "qos": profile.qos,
        "constraint": profile.constraint,
        "gpus_per_node": profile.gpus_per_node,
        "mem": f"{round(profile.mem_gb * 1024)}M" if profile.mem_gb else "",
    }
    executor.update_parameters(
        job_name=job_name,
        time=profile.timeout_min,
        nodes=profile.nodes,
        ntasks_per_node=profile.tasks_per_node,
        cpus_per_task=profile.cpus_per_task,
        signal_delay_s=profile.signal_delay_s,
        setup=setup,
        # One failed task ends the job: the other ranks would otherwise hang in a collective.
        srun_args=["--kill-on-bad-exit=1"],
        additional_parameters=dict(profile.sbatch),
        **{key: value for key, value in optional.items() if value},
    )
    return executor


def submit(
    cfg: RunConfig,
    run_dir: Path,
    cluster: Cluster,
    profile: SlurmProfile,
    *,
    cpus: int | None = None,
) -> submitit.Job:
    """Submit the training of ``cfg`` in ``run_dir``; returns the job without waiting.

    Args:
        cfg: the experiment.
        run_dir: the run folder; submitit's pickles and logs go to its ``submitit/`` folder.
        cluster: ``slurm``, ``local`` (processes on this machine) or ``debug`` (this process,
            run when the result is asked for).
        profile: the job's resources; it must already have passed :func:`check_resources`.
        cpus: cores per task for torch threads; None: SLURM's ``cpus_per_task`` in a SLURM
            job, else every core the process may use.
    """
    run_dir = Path(run_dir).resolve()
    paths = RunPaths(run_dir)
    paths.submitit.mkdir(parents=True, exist_ok=True)
    executor = make_executor(cluster, paths.submitit, profile, f"replication-{run_dir.name}")
    # Leave time after the checkpoint for submitit to requeue before SLURM kills the job.
    stop_timeout_s = max(5.0, profile.signal_delay_s - 15.0)
    job = TrainingJob(cfg, str(run_dir), cpus, stop_timeout_s)
    return executor.submit(job)


def log_paths(job: submitit.Job) -> tuple[Path, Path]:
    """Rank 0's stdout and stderr files."""
    task = job.task(0)
    return task.paths.stdout, task.paths.stderr


def wait_for(
    job: submitit.Job,
    *,
    timeout_s: float | None = None,
    on_state: Callable[[str], None] = lambda state: None,
    poll_s: float = 1.0,
    recheck_s: float = 10.0,
) -> Outcome:
    """Block until ``job`` ends; returns its outcome (never raises for a failed job).

    Args:
        job: a submitted job.
        timeout_s: give up after this long (TimeoutError); None waits for ever.
        on_state: called with each new scheduler state (PENDING, RUNNING, REQUEUED, ...).
        poll_s: seconds between looks at the result files.
        recheck_s: seconds between forced ``sacct`` calls: submitit alone asks less and less
            often as a job ages, so a job killed without a result would be noticed late.
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    if not isinstance(job, submitit.DebugJob):
        state, forced = "", time.monotonic()
        while True:
            if time.monotonic() - forced > recheck_s:
                job.get_info(mode="force")  # refreshes the state every task's done() reads
                forced = time.monotonic()
            if job.done() and not _scheduled_again(job):
                break
            if job.state not in (state, "UNKNOWN"):  # UNKNOWN: sacct has not seen it yet
                state = job.state
                on_state(state)
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"job {job.job_id} still {state} after {timeout_s} s")
            time.sleep(poll_s)
    cancelled = _cancelled(job)
    if cancelled:
        return Outcome(job.job_id, None, cancelled, log_paths(job)[1])
    for task_id in range(job.num_tasks):
        task = job.task(task_id)
        # exception() runs a debug job here (results() would open pdb on an error), but without
        # the variable that tells the job it is a debug one.
        with _debug_job_id(task):
            error = task.exception()
        if error is not None:
            # A cluster job's error wraps the traceback; a debug job's is the exception itself.
            wrapped = isinstance(error, submitit.core.utils.UncompletedJobError)
            text = str(error) if wrapped else f"{type(error).__name__}: {error}"
            return Outcome(job.job_id, None, error_line(text), task.paths.stderr)
    summary = job.results()[0]
    if summary is None:
        return Outcome(job.job_id, None, "the job ended without a result", log_paths(job)[1])
    return Outcome(job.job_id, summary)


# SLURM states of a job that will run (again): a result file from an attempt that SLURM then
# requeued does not end the job.
_SCHEDULED = {"PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "CONFIGURING", "RUNNING"}


def _cancelled(job: submitit.Job) -> str:
    """'' unless SLURM cancelled the job before it had a result; then the line to report."""
    if not isinstance(job, submitit.SlurmJob) or job.paths.result_pickle.exists():
        return ""
    state = job.get_info(mode="force").get("State", "")
    if not state.startswith("CANCELLED"):
        return ""
    return f"cancelled ({state}); launching it again resumes from its newest checkpoint"


def _scheduled_again(job: submitit.Job) -> bool:
    """Whether SLURM still holds a job that looks done (a requeue raced its result file)."""
    if not isinstance(job, submitit.SlurmJob):
        return False
    return job.get_info(mode="force").get("State", "UNKNOWN").split()[0] in _SCHEDULED


@contextmanager
def _debug_job_id(job: submitit.Job) -> Iterator[None]:
    if not isinstance(job, submitit.DebugJob):
        yield
        return
    previous = os.environ.get("SUBMITIT_DEBUG_JOB_ID")
    os.environ["SUBMITIT_DEBUG_JOB_ID"] = job.job_id
    try:
        yield
    finally:
        if previous is None:
            del os.environ["SUBMITIT_DEBUG_JOB_ID"]
        else:
            os.environ["SUBMITIT_DEBUG_JOB_ID"] = previous


def error_line(message: str) -> str:
    """The exception line of a job's traceback, which submitit wraps between dashed lines."""
    lines = [line.strip() for line in message.splitlines()]
    dashes = [i for i, line in enumerate(lines) if line and set(line) == {"-"}]
    if len(dashes) >= 2:
        trace = [line for line in lines[dashes[0] + 1 : dashes[1]] if line]
        if trace:
            return trace[-1]
    return next((line for line in lines if line), "unknown error")
