"""Where a run evaluates for its accuracy curve: at fixed fractions of the baseline's compute.

Wu et al. 2020 compare training methods by accuracy against wall-clock. The evaluations PySlowFast
runs during training cannot draw such curves: a long cycle evaluates once per shape at that
shape, the baseline every few epochs, so their points fall at different moments and on different
inputs. Curve points fall where each run has spent the same *compute*: fraction ``f`` of the
baseline's training compute (``solver.max_epoch`` epochs at the base shape), counted iteration by
iteration as the schedule's cost is (global batch x T x S^2 of each iteration's grid). Every
variant of an experiment therefore evaluates at the same amounts of work, and the wall-clock at
each point is what the curve plots. A run that ends before a fraction never reaches it; every
run also evaluates once at its end, so each curve ends at the model the run delivers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from replication.config import RunConfig
from replication.schedule.iterations import clips_per_process, iterations_per_epoch
from replication.schedule.records import EpochShape, Schedule

_EPS = 1e-9  # compute sums are integers; fractions of them get a rounding allowance


@dataclass(frozen=True)
class CurvePoint:
    """One evaluation of the curve: after ``iteration`` iterations of ``epoch``."""

    fraction: float  # compute spent so far, in units of the baseline's whole training compute
    epoch: int
    iteration: int  # iterations of ``epoch`` done when it is taken (at least 1)

    @property
    def position(self) -> tuple[int, int]:
        """(epoch, iteration): the training state's position when the point is due."""
        return self.epoch, self.iteration


def curve_points(
    shapes: Sequence[EpochShape],
    clips_per_epoch: int,
    fractions: Sequence[float],
    *,
    world_size: int,
    base_batch_size: int,
    base_clip_size: int,
    baseline_epochs: int,
) -> tuple[CurvePoint, ...]:
    """The first iteration at which each fraction of the baseline's compute is spent; the end.

    Args:
        shapes: every epoch of the schedule.
        clips_per_epoch: training clips of the data set (the sampler's count).
        fractions: of the baseline's compute, in (0, 1]; those the run never reaches are left out.
        world_size: training processes.
        base_batch_size: the baseline's global batch (train.batch_size).
        base_clip_size: T * S^2 of the base shape.
        baseline_epochs: the baseline's training length (solver.max_epoch).

    >>> from replication.schedule.records import BNMode
    >>> flat = [EpochShape(e, None, 8, 56, 16, 16, BNMode("batch"), 0, 0, None)
    ...         for e in range(2)]
    >>> [(p.fraction, p.position) for p in curve_points(flat, 64, [0.5, 1.0], world_size=1,
    ...     base_batch_size=16, base_clip_size=8 * 56**2, baseline_epochs=2)]
    [(0.5, (0, 4)), (1.0, (1, 4))]
    """
    clips = clips_per_process(clips_per_epoch, world_size)
    per_process = base_batch_size // world_size
    unit = base_batch_size * base_clip_size  # one baseline iteration's compute
    total = baseline_epochs * iterations_per_epoch(clips, [per_process]) * unit
    targets = sorted(set(fractions))
    points, spent, end = [], 0, None
    for shape in shapes:
        sizes = shape.batch_sizes
        crops = [s for _, s in shape.shapes]
        iterations = iterations_per_epoch(clips, sizes)
        for it in range(iterations):
            grid = it % len(sizes)
            spent += sizes[grid] * world_size * shape.num_frames * crops[grid] ** 2
            while targets and spent >= targets[0] * total - _EPS * total:
                fraction = targets.pop(0)  # two reached at one iteration: one evaluation
                if not points or points[-1].position != (shape.epoch, it + 1):
                    points.append(CurvePoint(fraction, shape.epoch, it + 1))
            end = (shape.epoch, it + 1)
    if end is not None and (not points or points[-1].position != end):
        points.append(CurvePoint(round(spent / total, 6) if total else 0.0, *end))
    return tuple(points)


def run_curve_points(
    cfg: RunConfig, schedule: Schedule, clips_per_epoch: int
) -> tuple[CurvePoint, ...]:
    """The curve points of a run (``train.curve_fractions``; none when it lists none)."""
    if not cfg.train.curve_fractions:
        return ()
    return curve_points(
        schedule.epochs,
        clips_per_epoch,
        cfg.train.curve_fractions,
        world_size=cfg.train.num_gpus,
        base_batch_size=cfg.train.batch_size,
        base_clip_size=cfg.data.num_frames * cfg.data.train_crop_size**2,
        baseline_epochs=cfg.train.curve_baseline_epochs or cfg.solver.max_epoch,
    )
