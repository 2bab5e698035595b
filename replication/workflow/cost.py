"""The estimated cost of a plan's runs, in units of one full baseline run of their experiment.

The estimate is the schedule's theoretical compute (``replication.schedule``); it needs the
clips per epoch, exact for a generated data set and a Kinetics-sized guess for user data.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from replication.schedule import DEFAULT_CLIPS_PER_EPOCH, build_schedule
from replication.workflow.records import BASELINE, Plan
from replication.workflow.runs import Run, expand_runs, skipped_variants


def clips_per_epoch(plan: Plan, dataset: str) -> int:
    """Training clips per epoch: exact for generated data, a Kinetics-sized guess otherwise."""
    generate = plan.datasets[dataset].generate
    if generate is None:
        return DEFAULT_CLIPS_PER_EPOCH
    return generate.train_per_class * generate.classes


def estimated_cost(plan: Plan, runs: Iterable[Run]) -> dict[str, float]:
    """Theoretical compute of each run, in units of one full baseline run of its experiment."""
    units: dict[str, float] = {}
    base: dict[str, float] = {}
    for run in runs:
        clips = clips_per_epoch(plan, run.dataset)
        cost = build_schedule(run.resolved_config(), clips_per_epoch=clips).cost
        if run.experiment not in base:
            base_run = next(
                r
                for r in expand_runs(plan)
                if r.experiment == run.experiment and r.variant == BASELINE
            )
            base_cfg = base_run.resolved_config()
            base[run.experiment] = build_schedule(base_cfg, clips).cost.baseline_iterations
        units[run.run_id] = cost.relative_compute / base[run.experiment]
    return units


def print_plan(plan: Plan, file: Any = None) -> None:
    """Human-readable list of runs with their estimated cost, on ``file`` (stdout)."""
    file = file or sys.stdout  # looked up now: tests and callers may have replaced it
    runs = expand_runs(plan)
    cost = estimated_cost(plan, runs)
    print(f"plan {plan.name!r}: {len(runs)} runs, cluster {plan.cluster}", file=file)
    for run in runs:
        source = f"  from {run.init_from}" if run.init_from else ""
        print(f"  {run.run_id:48s} {run.group:8s} {cost[run.run_id]:6.2f}{source}", file=file)
    print(f"total estimated compute: {sum(cost.values()):.2f} baseline runs", file=file)
    for name in skipped_variants(plan):
        print(f"  skipped {name}: its config key does not exist in this version", file=file)
