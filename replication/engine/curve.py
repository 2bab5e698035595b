"""Curve evaluations (``train.curve_fractions``): test-shape accuracy at fixed amounts of compute.

At each curve point (:mod:`replication.schedule.curve`) the run evaluates a *copy* of its model
as it would deliver it there: the copy is put in the base shape's BN mode, gets precise BN on
base-shape training batches, and is evaluated with one view per video at the test shape. The
copy is what makes the evaluation leave training alone: the training model's weights, BN
statistics and mode are never touched, the generators' states are restored afterwards (precise
BN runs the model in training mode, so dropout draws numbers), and the loop's clock is stopped
while it runs. Its time is logged as ``eval_s`` and summed in the training state, so the curve
can be drawn against training time without it and the job clock can be reported without it.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

from replication.engine.checkpoint import rng_state, set_rng_state
from replication.engine.epoch_end import evaluate_views, recompute_bn_stats
from replication.engine.setup import Run
from replication.engine.state import TrainState
from replication.io import events as ev
from replication.model import set_bn_mode
from replication.schedule import (
    CurvePoint,
    EpochPlan,
    clips_per_process,
    iterations_per_epoch,
    run_curve_points,
)


@dataclass(frozen=True)
class Curve:
    """A run's curve points and the base shape they are evaluated at."""

    points: tuple[CurvePoint, ...]
    base: EpochPlan  # the last epoch: the shape (and BN mode) the run ends at
    base_grid: int  # its full-size grid's run-wide id (precise BN's batches)
    base_batches: int  # batches an epoch at the base shape has (precise BN takes at most these)


def start_curve(run: Run, state: TrainState, grid_ids: list[list[int]]) -> Curve | None:
    """The run's curve (None without ``train.curve_fractions``); takes a point due on resume.

    A stop during a curve evaluation leaves its point due where training resumes.

    Args:
        run: the run, set up (its schedule and training set give the points).
        state: where training continues.
        grid_ids: the run-wide grid ids of each epoch still to train (the last epoch's full
            grid is its last); none left (a stop in the final test) means every point is taken,
            since all lie inside epochs.
    """
    points = run_curve_points(run.cfg, run.schedule, len(run.train_set))
    if not points or not grid_ids:
        return None
    base = run.schedule.epochs[-1]
    clips = clips_per_process(len(run.train_set), run.world_size)
    batches = iterations_per_epoch(clips, [base.per_gpu_batch_size])
    curve = Curve(points, base, grid_ids[-1][-1], batches)
    evaluate_due_points(run, state, curve)
    return curve


def evaluate_due_points(run: Run, state: TrainState, curve: Curve | None) -> float:
    """Evaluate every curve point due at ``state``'s position; the seconds they took.

    A point is due once training has reached its position; ``state.curves_done`` counts those
    taken, so a resumed run takes the points its checkpoint had not (and none twice).
    """
    spent = 0.0
    while curve is not None and state.curves_done < len(curve.points):
        point = curve.points[state.curves_done]
        if point.position > state.position:
            break
        spent += _evaluate_point(run, state, point, curve)
        state.curves_done += 1
    return spent


def _evaluate_point(run: Run, state: TrainState, point: CurvePoint, curve: Curve) -> float:
    """One curve evaluation on a copy of the model; writes the ``curve`` event."""
    start, generators, training = time.perf_counter(), rng_state(), run.net.model
    run.net.model = copy.deepcopy(training)
    try:
        set_bn_mode(run.net.model, curve.base.bn, run.world_size)
        recompute_bn_stats(run, curve.base, curve.base_grid, curve.base_batches)
        metrics = evaluate_views(run, (1, 1))
    finally:
        run.net.model = training
        set_rng_state(generators)
    spent = time.perf_counter() - start
    state.curve_s += spent
    run.log.write(
        ev.CURVE,
        epoch=point.epoch,
        iteration=point.iteration,
        step=state.step,
        fraction=point.fraction,
        metrics=metrics,
        train_s=state.loop_s + state.epoch_loop_s,  # training iterations so far
        total_s=run.total_s() - state.curve_s,  # the job clock without curve evaluations
        eval_s=spent,
    )
    return spent
