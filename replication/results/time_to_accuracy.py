"""Time to reach a share of the baseline's final accuracy, from the runs' curve points.

The paper compares variants by accuracy against wall-clock. Curve points
(``train.curve_fractions``; ``evals.csv`` rows of kind "curve") evaluate every variant of an
experiment the same way (one view at the test shape) at the same fractions of the baseline's
compute, so their times to one accuracy compare. The target is :data:`TARGET_PERCENT` % of the
baseline's final curve accuracy: the mean over the baseline's seeds of each seed's last curve
point (the run's end), measured like every other point. A seed's time to the target is the
clock at its first curve point whose metric reaches it: no interpolation between points, so the
time is only as fine as the points are spaced. A variant's time is the mean over the seeds that
reach it, with how many did; its speedup is the baseline's time over it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from replication.results.formats import NONE, num, ratio
from replication.results.tidy import Row

TARGET_PERCENT = 99  # the target: this percentage of the baseline's final curve accuracy
CURVE = "curve"  # evals.csv kind of a curve point
NOT_REACHED = "not reached"  # no seed's curve reaches the target


@dataclass(frozen=True)
class Reach:
    """When the seeds of one variant first reached the target.

    Attributes:
        seeds: seeds with curve points.
        reached: of those, the seeds whose curve reaches the target.
        train_s: mean over the seeds that reached it of the training-loop time at their first
            point reaching it; None when none did.
        total_s: the same on the job clock without curve evaluations.
    """

    seeds: int
    reached: int
    train_s: float | None
    total_s: float | None


def curve_points(evals: Iterable[Row], experiment: str, variant: str) -> dict[int, list[Row]]:
    """A variant's curve points per seed, in the order of compute spent (the run's end last)."""
    seeds: dict[int, list[Row]] = defaultdict(list)
    for row in evals:
        if row["kind"] == CURVE and (row["experiment"], row["variant"]) == (experiment, variant):
            seeds[row["seed"]].append(row)
    return {seed: sorted(rows, key=lambda r: r["fraction"]) for seed, rows in seeds.items()}


def final_value(evals: Iterable[Row], experiment: str, variant: str, metric: str) -> float | None:
    """Mean over seeds of the metric at each seed's last curve point; None without points.

    >>> rows = [{"kind": "curve", "experiment": "e", "variant": "b", "seed": s, "fraction": f,
    ...          "top1": v} for s, f, v in ((0, 0.5, 50.0), (0, 1.0, 80.0), (1, 1.0, 90.0))]
    >>> final_value(rows, "e", "b", "top1")
    85.0
    """
    last = [rows[-1][metric] for rows in curve_points(evals, experiment, variant).values()]
    values = [v for v in last if v is not None]
    return sum(values) / len(values) if values else None


def first_reaching(points: Sequence[Row], metric: str, target: float) -> Row | None:
    """The first point (in compute order) whose metric is at least ``target``; None if none."""
    return next((p for p in points if p[metric] is not None and p[metric] >= target), None)


def reach(
    evals: Iterable[Row], experiment: str, variant: str, metric: str, target: float
) -> Reach | None:
    """When the variant's seeds first reach ``target``; None when it has no curve points."""
    seeds = curve_points(evals, experiment, variant)
    if not seeds:
        return None
    firsts = [p for rows in seeds.values() if (p := first_reaching(rows, metric, target))]

    def mean(clock: str) -> float | None:
        values = [p[clock] for p in firsts if p[clock] is not None]
        return sum(values) / len(values) if values else None

    return Reach(len(seeds), len(firsts), mean("train_s"), mean("total_s"))


def reach_text(result: Reach | None, unit_s: float) -> str:
    """A table cell: '12.3'; '12.3 (1 of 2)' when some seeds never reach it; NONE without points.

    >>> reach_text(Reach(2, 1, 90.0, 99.0), 60.0), reach_text(Reach(3, 0, None, None), 1.0)
    ('1.5 (1 of 2)', 'not reached')
    """
    if result is None:
        return NONE
    if not result.reached:
        return NOT_REACHED
    time = num(ratio(result.train_s, unit_s), 1)
    if result.reached == result.seeds:
        return time
    return f"{time} ({result.reached} of {result.seeds})"


def curve_note(runs: Mapping[str, Sequence[Row]]) -> tuple[str, ...]:
    """A table note on the curve evaluations' cost (points and seconds per run, per label).

    Args:
        runs: finished runs per variant label; labels whose runs took no curve points are left
            out, and with none there is no note.
    """
    parts = []
    for label, rows in runs.items():
        curved = [r for r in rows if r.get("curve_points")]
        if curved:
            points = sum(r["curve_points"] for r in curved) / len(curved)
            seconds = sum(r["curve_s"] or 0.0 for r in curved) / len(curved)
            parts.append(f"{label} {points:.0f} points, {seconds:.1f} s")
    if not parts:
        return ()
    return (
        "Curve evaluations, left out of total time (a measuring instrument the paper's runs "
        f"did not have; means per run): {'; '.join(parts)}.",
    )
