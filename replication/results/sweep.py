"""The training-length sweep: final accuracy against training time, and where a line crosses.

The paper compares multigrid with the baseline by accuracy against wall-clock (Wu et al. 2020):
the baseline and long + short cycle, each trained for several lengths, are two curves. A plan
puts a variant on a line of the sweep with ``sweep`` (e.g. "baseline", "long + short cycle");
its length is its config's ``solver.max_epoch``. Each point is a variant's seed mean:
training-loop time, job time and final metric (top-1, or mAP for multi-label data) with the
tables' bootstrap CI. The reference is the line named "baseline" (else the line holding the
baseline variant). Every point of another line is compared with the reference line at the same
**training-loop time**: the reference's seed-mean metric interpolated linearly between its two
neighbouring lengths (seed-mean times), only inside its range of times; a point outside it is
said to be so, not extrapolated. The difference's CI resamples the point's seeds and those of
the two reference lengths independently (:func:`~replication.results.stats.difference_ci`).
Each line's verdict (:func:`verdict`) is worded from these differences alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from replication.results.cells import clock_note, estimate_text, hardware, not_run_note, seeds_text
from replication.results.formats import NONE, NOT_RUN, Table, num, ratio
from replication.results.query import Results
from replication.results.stats import Estimate, difference_ci
from replication.results.tidy import Row
from replication.results.units import METRIC_NAMES, time_unit
from replication.workflow import BASELINE, Experiment, expand_runs

REFERENCE = "baseline"  # the sweep line the others are compared with


@dataclass(frozen=True)
class SweepPoint:
    """One variant of a sweep line: its length and its finished seeds.

    Attributes:
        line: the plan's ``sweep`` of the variant.
        variant: its name; ``label`` its label.
        epochs: its config's ``solver.max_epoch``.
        runs: its finished runs (one row per seed; none: not run).
        values: their final metric (seeds that report it).
        train_s: seed mean of the training-loop time; None when not run.
        total_s: seed mean of the job time (curve evaluations left out); None when not run.
    """

    line: str
    variant: str
    label: str
    epochs: int
    runs: tuple[Row, ...]
    values: tuple[float, ...]
    train_s: float | None
    total_s: float | None

    @property
    def mean(self) -> float | None:
        """Seed mean of the final metric; None without one."""
        return sum(self.values) / len(self.values) if self.values else None


@dataclass(frozen=True)
class Comparison:
    """A point against the reference line at the point's training-loop time.

    Attributes:
        point: the point compared.
        reference: the reference line's seed-mean metric interpolated at ``point.train_s``;
            None when that time is outside the reference's range.
        difference: the point's mean minus ``reference``, with its bootstrap CI; None outside.
    """

    point: SweepPoint
    reference: float | None
    difference: Estimate | None

    @property
    def separated(self) -> bool:
        """Whether the difference's 95 % CI leaves out 0 (needs two seeds on every side)."""
        d = self.difference
        return d is not None and d.n > 1 and (d.low > 0 or d.high < 0)


def sweep_points(res: Results, exp: Experiment) -> list[SweepPoint]:
    """The experiment's sweep points: lines in plan order, each line's points by length.

    Variants this version of the code skips (``requires_key``) are left out; planned variants
    none of whose runs finished are points without runs.
    """
    metric = res.metrics(exp.id)[0]
    runs = {r.variant: r for r in expand_runs(res.plan) if r.experiment == exp.id}
    lines = list(dict.fromkeys(v.sweep for v in exp.variants if v.sweep is not None))
    points = []
    for variant in exp.variants:
        if variant.sweep is None or variant.name not in runs:
            continue
        done = res.runs_of(exp.id, variant.name)
        points.append(
            SweepPoint(
                line=variant.sweep,
                variant=variant.name,
                label=runs[variant.name].label,
                epochs=runs[variant.name].resolved_config().solver.max_epoch,
                runs=tuple(done),
                values=tuple(r[metric] for r in done if r[metric] is not None),
                train_s=res.mean(exp.id, variant.name, "train_s"),
                total_s=res.mean(exp.id, variant.name, "total_s"),
            )
        )
    return sorted(points, key=lambda p: (lines.index(p.line), p.epochs))


def reference_line(points: Sequence[SweepPoint]) -> str | None:
    """The line named :data:`REFERENCE`, else the one holding the baseline variant; or None."""
    lines = {p.line for p in points}
    if REFERENCE in lines:
        return REFERENCE
    return next((p.line for p in points if p.variant == BASELINE), None)


def interpolation(times: Sequence[float], time: float) -> list[tuple[int, float]] | None:
    """Weights of the points at ``times`` (ascending) whose linear interpolation is at ``time``.

    Returns:
        ``[(i, 1 - w), (i + 1, w)]`` between points i and i + 1, ``[(i, 1.0)]`` on a point, None
        outside ``[times[0], times[-1]]`` (no extrapolation).

    >>> interpolation([10.0, 20.0, 40.0], 25.0), interpolation([10.0, 20.0], 20.0)
    ([(1, 0.75), (2, 0.25)], [(1, 1.0)])
    >>> interpolation([10.0, 20.0], 9.0) is None
    True
    """
    for i, at in enumerate(times):
        if time == at:
            return [(i, 1.0)]
        if i and times[i - 1] < time < at:
            w = (time - times[i - 1]) / (at - times[i - 1])
            return [(i - 1, 1.0 - w), (i, w)]
    return None


def compare(
    points: Sequence[SweepPoint], reference: str, *, resamples: int = 10_000, seed: int = 0
) -> list[Comparison]:
    """Each measured point of the other lines against the ``reference`` line at its loop time."""
    ref = sorted(
        (p for p in points if p.line == reference and p.values and p.train_s is not None),
        key=lambda p: p.train_s or 0.0,
    )
    times = [p.train_s or 0.0 for p in ref]
    out = []
    for point in points:
        if point.line == reference or not point.values or point.train_s is None:
            continue
        weights = interpolation(times, point.train_s)
        if weights is None:
            out.append(Comparison(point, None, None))
            continue
        at = sum(w * (ref[i].mean or 0.0) for i, w in weights)
        parts = [(w, ref[i].values) for i, w in weights]
        diff = difference_ci(point.values, parts, resamples=resamples, seed=seed)
        out.append(Comparison(point, at, diff))
    return out


def _listed(epochs: Sequence[int]) -> str:
    """'15', '15 and 30', '15, 30 and 60'."""
    words = [str(e) for e in epochs]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def verdict(line: str, reference: str, comparisons: Sequence[Comparison]) -> str:
    """One line's verdict against the reference line, worded from the measured differences.

    Above or below is the sign of the mean difference at equal training-loop time; a crossover
    is a change of sign between two consecutive lengths of ``line``; the CI clause names the
    lengths whose difference's 95 % CI leaves out 0; lengths outside the reference's range of
    times are named as such.
    """
    if not comparisons:
        return f"{line}: no length measured (no finished run), so not compared."
    inside = [c for c in comparisons if c.difference is not None]
    outside = [c.point.epochs for c in comparisons if c.difference is None]
    ref = f"the {reference}'s line"
    tail = f" Outside the {reference}'s range: {_listed(outside)} epochs." if outside else ""
    if not inside:
        return f"{line}: no length within the {reference}'s range of training-loop time." + tail
    signs = [(c.point.epochs, _sign(c.difference)) for c in inside]
    above, below, level = ([e for e, s in signs if s == k] for k in (1, -1, 0))
    level_text = f"; level at {_listed(level)}" if level else ""
    if not below:
        text = f"{line} is above {ref} at every length compared ({_listed(above)} epochs"
        text += f"{level_text}): no crossover"
    elif not above:
        text = f"{line} stays below {ref} at every length compared ({_listed(below)} epochs"
        text += f"{level_text}): no crossover"
    else:
        signed = [(e, s) for e, s in signs if s]
        crossings = [
            f"crossover between {a} and {b} epochs of {line}, "
            + ("rising above" if t > 0 else "falling below")
            for (a, s), (b, t) in pairwise(signed)
            if s != t
        ]
        text = f"{line} is above {ref} at {_listed(above)} epochs, below at {_listed(below)} epochs"
        text += f"{level_text} ({'; '.join(crossings)})"
    return f"{text}; compared at equal training-loop time, {_ci_clause(inside)}.{tail}"


def _sign(difference: Estimate | None) -> int:
    mean = 0.0 if difference is None else difference.mean
    return (mean > 0) - (mean < 0)


def _ci_clause(inside: Sequence[Comparison]) -> str:
    """Which lengths' difference has a 95 % CI that leaves out 0."""
    if all(c.difference is None or c.difference.n < 2 for c in inside):
        return "no CI of the difference (one seed on a side)"
    separated = [c.point.epochs for c in inside if c.separated]
    if not separated:
        return "the difference's 95 % CI includes 0 at every length"
    if len(separated) == len(inside):
        return "the difference's 95 % CI leaves out 0 at every length"
    return f"the difference's 95 % CI leaves out 0 at {_listed(separated)} epochs only"


# --------------------------------------------------------------------------- the table


def sweep_table(res: Results, exp: Experiment) -> Table | None:
    """One row per (line, length) of the experiment's sweep; None when it has no sweep."""
    points = sweep_points(res, exp)
    if not points:
        return None
    metric = METRIC_NAMES[res.metrics(exp.id)[0]]
    reference = reference_line(points)
    plan = res.plan
    comparisons = (
        []
        if reference is None
        else compare(
            points, reference, resamples=plan.bootstrap_resamples, seed=plan.bootstrap_seed
        )
    )
    every = [r for p in points for r in p.runs]
    unit = time_unit([r[c] for r in every for c in ("train_s", "total_s") if r[c] is not None])
    rows = [_row(res, exp, p, comparisons, reference, unit.seconds) for p in points]
    lines = list(dict.fromkeys(p.line for p in points if p.line != reference))
    if reference is None:
        verdicts: tuple[str, ...] = (
            f"No reference line (none is named '{REFERENCE}' or holds the baseline variant): "
            "the lines are not compared.",
        )
    else:
        verdicts = tuple(
            verdict(line, reference, [c for c in comparisons if c.point.line == line])
            for line in lines
        )
    ref = reference or REFERENCE
    return Table(
        id=f"{exp.id}_sweep",
        title=f"{exp.title}: accuracy vs training length",
        caption=(
            "One row per training length (epochs: the config's solver.max_epoch) of each line "
            "of the sweep, the plan's variants with a 'sweep'. Runs: finished seeds ('k of n' "
            "when some have not run). Train time is the training loop's wall-clock, total time "
            "the job's (curve evaluations left out), means over seeds; "
            f"{metric.split(' ')[0]} is the final multi-view test, mean ± half-width of the "
            f"95 % bootstrap CI over seeds. The {ref}'s line is the reference: at each other "
            f"row's mean training-loop time, its seed-mean {metric.split(' ')[0]} is "
            "interpolated linearly between its two neighbouring lengths (their seed-mean "
            f"times), only within its range of times (outside it: 'outside the {ref}'s "
            "range'). Δ is the row's mean minus that value, with a 95 % bootstrap CI that "
            "resamples the row's seeds and the seeds of the reference lengths independently "
            f"(times held at their seed means). Hardware: {hardware(every)}."
        ),
        columns=(
            "Line",
            "Epochs",
            "Runs",
            f"Train time ({unit.symbol})",
            f"Total time ({unit.symbol})",
            metric,
            f"{ref}'s line at equal train time",
            f"Δ {metric.split(' ')[0]} vs {ref}'s line",
        ),
        rows=tuple(rows),
        align="lrrrrrrr",
        notes=verdicts + not_run_note(res, exp) + clock_note(every),
    )


def _row(
    res: Results,
    exp: Experiment,
    point: SweepPoint,
    comparisons: Sequence[Comparison],
    reference: str | None,
    unit_s: float,
) -> tuple[str, ...]:
    """One point's cells."""
    runs = seeds_text(res, exp.id, point.variant)
    if runs == NOT_RUN:
        return (point.line, str(point.epochs), runs, *[NONE] * 5)
    metric = res.metrics(exp.id)[0]
    own = estimate_text(res.estimate(exp.id, point.variant, metric))
    found = [c for c in comparisons if c.point.variant == point.variant]
    if point.line == reference or not found:
        at, diff = NONE, NONE
    elif found[0].difference is None:
        at, diff = f"outside the {reference}'s range", NONE
    else:
        d = found[0].difference
        at, diff = num(found[0].reference, 1), ("+" if d.mean > 0 else "") + d.text(1)
    train, total = ratio(point.train_s, unit_s), ratio(point.total_s, unit_s)
    return (point.line, str(point.epochs), runs, num(train, 1), num(total, 1), own, at, diff)
