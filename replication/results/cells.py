"""Table cells and notes that several tables share: seeds run, hardware, estimates, clock notes.

The main, ablation, throughput, runs and sweep tables say "2 of 3" seeds, "not run", which runs'
total time is the older logs' fallback and which hardware ran them in the same words, from here.
"""

from __future__ import annotations

from collections.abc import Sequence

from replication.results.formats import NONE, NOT_RUN
from replication.results.query import Results
from replication.results.stats import Estimate
from replication.results.tidy import Row
from replication.workflow import Experiment


def hardware(rows: Sequence[Row]) -> str:
    """The runs' devices, each once, joined by ' / ' (:data:`NONE` without runs)."""
    return " / ".join(sorted({r["device"] for r in rows})) or NONE


def seeds_text(res: Results, experiment: str, variant: str) -> str:
    """Finished seeds: '3'; '2 of 3' when some planned seeds have not run; 'not run'."""
    done, planned = len(res.runs_of(experiment, variant)), len(res.planned_of(experiment, variant))
    if not done:
        return NOT_RUN
    return str(done) if done == planned else f"{done} of {planned}"


def estimate_text(est: Estimate | None) -> str:
    """``mean ± half-width`` with one decimal; :data:`NONE` without an estimate."""
    return NONE if est is None else est.text(1)


def not_run_note(res: Results, exp: Experiment) -> tuple[str, ...]:
    """A note naming the experiment's planned runs without a summary (none: no note)."""
    missing = [r["run_id"] for r in res.planned_of(exp.id) if r["status"] == NOT_RUN]
    if not missing:
        return ()
    return (f"Not run (no summary.json when collected): {', '.join(missing)}.",)


def clock_note(rows: Sequence[Row]) -> tuple[str, ...]:
    """Says which runs' total time is the older logs' fallback (their summary's ``wall_s``)."""
    older = [r["run_id"] for r in rows if r["total_from"] == "training clock"]
    if not older:
        return ()
    return (
        f"Total time of {len(older)} of {len(rows)} runs, logged by code older than the job "
        "clock, is their summary's wall-clock from the training clock's start: it leaves out "
        "process start-up, data set and model build and FLOP counting.",
    )
