"""What a training job's main process does with the signals a cluster sends it.

SLURM signals every process of a job step. **USR2** warns before a time limit or on
preemption: submitit's handler asks the training to stop and save (``TrainingJob.checkpoint``),
requeues the job and ends the process. **TERM** ends a job (``scancel``, the end of a
preemption's grace time, a cancelled local job): the training stops at its next safe point,
saves, and the process ends, so launching the run again resumes from that checkpoint. Loader
workers ignore both (:func:`replication.data.loader.ignore_job_signals`); only the main
process of each rank acts, once.

The handlers end the process themselves (``os._exit``) rather than by raising: an exception
raised from a signal handler lands in whatever the main thread runs, and an ``except`` there
(torch's import has many) would swallow it, leaving a job that trains on while SLURM believes
it requeued or ended.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def say(message: str) -> None:
    """One timestamped line on stderr (a debug job's stdout is the launch command's)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Running:
    """A training in a worker thread, as the main thread's signal handlers see it."""

    stop: threading.Event = field(default_factory=threading.Event)  # stop at the next safe point
    started: threading.Event = field(default_factory=threading.Event)  # the thread exists
    finished: threading.Event = field(default_factory=threading.Event)  # the thread returned
    handling: list[str] = field(default_factory=list)  # signals being acted on (one at a time)

    def stop_and_wait(self, timeout_s: float, why: str) -> bool:
        """Ask the training to stop and save; True once it did (False: timed out, or none ran)."""
        if not self.started.is_set():
            say(f"{why} before training started: nothing to save")
            return False
        self.stop.set()
        say(f"{why}: stopping at the next iteration to checkpoint")
        if self.finished.wait(timeout_s):
            return True
        say(f"no checkpoint within {timeout_s:.0f} s; going on without one")
        return False


def end_process(code: int) -> None:
    """End this process now, with ``code``, after flushing what it printed."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def ignore_usr2_from_now() -> None:
    """Ignore USR2 from here on, in this process and the children it starts.

    Called once the training has saved, before submitit runs ``scontrol requeue`` (rank 0),
    and once another rank has stopped for the requeue. SLURM signals every process of the job,
    so a second USR2 during the requeue would also reach the ``scontrol`` child (or a site's
    wrapper script around it) and kill it, or kill another rank as its Python shuts down (which
    restores the default action), and srun then ends the step: either way the job fails
    instead of requeueing (both seen in tests). An ignored signal stays ignored across ``exec``, in
    shells too, where a blocked one does not. Main thread only (``signal.signal``).
    """
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


def install(running: Running, stop_timeout_s: float, record_failure: Callable[[str], None]) -> None:
    """Wrap submitit's USR2 handler (once per job run) and stop cleanly on TERM.

    Args:
        running: the training the handlers stop.
        stop_timeout_s: how long TERM waits for the training to save.
        record_failure: writes a failure where the launcher reads the job's outcome.
    """
    requeue = signal.getsignal(signal.SIGUSR2)

    def on_usr2(signum: int, frame: Any) -> None:
        if running.handling:
            say("USR2 again: already stopping for a requeue; ignored")
            return
        running.handling.append("USR2")
        try:
            requeue(signum, frame)  # submitit: checkpoint(), scontrol requeue, SystemExit
        except SystemExit as done:  # requeued: this run is over
            end_process(done.code if isinstance(done.code, int) else 1)
        except subprocess.CalledProcessError as err:
            command = " ".join(map(str, err.cmd)) if isinstance(err.cmd, list) else err.cmd
            _fail(record_failure, f"requeue failed: `{command}` exited {err.returncode}")
        except Exception as err:  # e.g. no requeue left after too many time limits
            _fail(record_failure, f"{type(err).__name__}: {' '.join(str(err).split())}")

    def on_term(signum: int, frame: Any) -> None:
        if running.handling:  # a requeue in progress ends the process itself
            return
        running.handling.append("TERM")
        if running.stop_and_wait(stop_timeout_s, "TERM"):
            say("checkpoint written; the job ends (launch it again to resume)")
        end_process(128 + signum)

    if callable(requeue):  # not under submitit (a debug job): leave the signals alone
        signal.signal(signal.SIGUSR2, on_usr2)
        signal.signal(signal.SIGTERM, on_term)


def _fail(record_failure: Callable[[str], None], message: str) -> None:
    say(f"error: {message}")
    record_failure(message)
    end_process(1)
