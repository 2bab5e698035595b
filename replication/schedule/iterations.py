"""How many iterations an epoch runs, and what the schedule costs against the baseline.

:func:`iterations_per_epoch` is *the* count: exactly the number of batches the short-cycle
sampler yields (:class:`replication.data.sampler.ShortCycleBatchSampler` calls it for its
``len()``), and what the cost estimate, the schedule figure and the step benchmark use, so none
of them can disagree with training by an iteration. The reference reports ``floor(n / mean
batch)``, which can differ from what its own iterator produces by one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from replication.schedule.records import Cost, EpochShape


def clips_per_process(clips_per_epoch: int, world_size: int) -> int:
    """Clips each process sees per epoch: DistributedSampler pads the data set to a multiple.

    >>> clips_per_process(1001, 8)
    126
    """
    return -(-clips_per_epoch // world_size)


def iterations_per_epoch(num_samples: int, batch_sizes: Sequence[int]) -> int:
    """Full batches a cycle of ``batch_sizes`` takes from ``num_samples`` clips (drop-last).

    >>> iterations_per_epoch(10, [4, 2, 1])  # 4 + 2 + 1, then 3 left: a batch of 4 does not fit
    3
    >>> iterations_per_epoch(64, [8])
    8
    """
    cycles, left = divmod(num_samples, sum(batch_sizes))
    count = cycles * len(batch_sizes)
    for size in batch_sizes:
        if left < size:
            break
        left -= size
        count += 1
    return count


def grid_iterations(iterations: int, num_grids: int, grid: int) -> int:
    """Iterations that run at short-cycle grid ``grid`` (grids cycle 0, 1, ..., 0, ...).

    >>> [grid_iterations(7, 3, g) for g in range(3)]
    [3, 2, 2]
    """
    return -(-(iterations - grid) // num_grids) if iterations > grid else 0


def epoch_work(shape: EpochShape, clips: int, world_size: int) -> tuple[int, int]:
    """Iterations and compute (sum of global batch * T * S^2) of an epoch, ``clips`` per process."""
    crops = [g.crop_size for g in shape.short_cycle] if shape.short_cycle else [shape.crop_size]
    sizes = shape.batch_sizes
    iters = iterations_per_epoch(clips, sizes)
    compute = 0
    for index, (size, crop) in enumerate(zip(sizes, crops, strict=True)):
        count = grid_iterations(iters, len(sizes), index)
        compute += count * size * world_size * shape.num_frames * crop**2
    return iters, compute


def schedule_cost(
    shapes: Sequence[EpochShape],
    clips_per_epoch: int,
    *,
    world_size: int,
    base_batch_size: int,
    base_clip_size: int,
    baseline_epochs: int,
) -> Cost:
    """The schedule's iterations and compute against the baseline's.

    Args:
        shapes: every epoch of the schedule.
        clips_per_epoch: training clips of the data set.
        world_size: training processes.
        base_batch_size: the baseline's global batch (train.batch_size).
        base_clip_size: T * S^2 of the base shape.
        baseline_epochs: the baseline's training length (solver.max_epoch).
    """
    clips = clips_per_process(clips_per_epoch, world_size)
    works = [epoch_work(shape, clips, world_size) for shape in shapes]
    per_process_batch = base_batch_size // world_size
    baseline_iterations = baseline_epochs * iterations_per_epoch(clips, [per_process_batch])
    relative = sum(c for _, c in works) / (base_batch_size * base_clip_size)
    return Cost(
        clips_per_epoch=clips_per_epoch,
        iterations=sum(i for i, _ in works),
        baseline_iterations=baseline_iterations,
        relative_compute=relative,
        speedup=baseline_iterations / relative if relative else math.inf,
    )
