"""The job process's signal handlers (cluster/signals.py), each case in a process of its own:
the handlers end the process they run in."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from shared import ROOT

# A stand-in for submitit's USR2 handler: checkpoint (``TrainingJob.checkpoint`` ends with
# ignore_usr2_from_now), then "scontrol requeue", a shell child that gets a second USR2 while it
# runs, as SLURM's signal to every process of the job would, and sends its parent one too.
SCRIPT = textwrap.dedent("""
    import os, signal, subprocess, sys, threading, time
    from replication.cluster import signals

    def submitit_handler(signum, frame):
        if sys.argv[1] == "early":  # a second USR2 while the checkpoint is awaited
            os.kill(os.getpid(), signal.SIGUSR2)
            time.sleep(0.2)
        if sys.argv[1] != "keep":
            signals.ignore_usr2_from_now()
        child = "kill -USR2 $$; kill -USR2 $PPID; sleep 0.2"
        code = subprocess.run(["sh", "-c", child]).returncode
        print(f"requeue child exited {code}", flush=True)
        if code != 0:
            raise subprocess.CalledProcessError(code, ["scontrol", "requeue"])
        raise SystemExit(0)

    threading.Thread(target=time.sleep, args=(10,), daemon=True).start()  # the training's
    signal.signal(signal.SIGUSR2, submitit_handler)
    signals.install(signals.Running(), 5, lambda message: print("failure:", message))
    os.kill(os.getpid(), signal.SIGUSR2)
    time.sleep(10)
    print("not ended", flush=True)
""")


def job_process(mode: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)  # fmt: skip


def test_a_second_usr2_during_the_requeue_is_ignored_by_the_job_and_its_child():
    done = job_process("ignore")
    assert done.stdout.splitlines() == ["requeue child exited 0"], done.stdout + done.stderr
    assert done.returncode == 0 and "error" not in done.stderr


def test_a_second_usr2_while_the_checkpoint_is_awaited_is_logged_and_ignored():
    done = job_process("early")
    assert done.stdout.splitlines() == ["requeue child exited 0"], done.stdout + done.stderr
    assert done.returncode == 0
    assert "USR2 again: already stopping for a requeue; ignored" in done.stderr


def test_without_ignoring_it_the_second_usr2_kills_the_requeue():
    """What ignore_usr2_from_now prevents: the case above fails without it."""
    done = job_process("keep")
    assert done.stdout.splitlines()[0] == "requeue child exited -12", done.stdout + done.stderr
    assert done.returncode == 1
    assert "error: requeue failed: `scontrol requeue` exited -12" in done.stderr
