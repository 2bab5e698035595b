"""Short-cycle batch sampler (Wu et al. 2020, section 3.2; PySlowFast's ``ShortCycleBatchSampler``).

Batches are lists of :class:`ClipRequest`: which clip, on which grid of the current short cycle,
and with which random seed. The grid id cycles 0, 1, ..., m-1, 0, ... with one batch size per grid,
restarting every epoch, so every rank uses the same grid at the same iteration. The seed makes
augmentation a function of (seed, epoch, position) alone, whatever worker decodes the clip.

Unlike the reference, ``len()`` is the number of batches actually yielded
(:func:`replication.schedule.iterations_per_epoch`, the count the schedule's cost, the figures
and the benchmarks use too), so the LR schedule's within-epoch progress and every rank's
iteration count agree exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import NamedTuple

import torch
from torch.utils.data import DistributedSampler, Sampler

from replication.schedule import iterations_per_epoch


class ClipRequest(NamedTuple):
    """One clip to load: dataset index, grid id into the current grids, augmentation seed."""

    index: int
    grid: int
    seed: int


class ShortCycleBatchSampler(Sampler[list[ClipRequest]]):
    """Yield batches whose size follows the short cycle; drop the trailing partial batch.

    Args:
        num_samples: clips in the data set.
        batch_sizes: per-process batch size of each grid, in cycling order (one entry without a
            short cycle), e.g. ``[4b, 2b, b]``.
        seed: base seed; shuffling and augmentation seeds derive from (seed, epoch).
        rank: this process's rank.
        world_size: number of processes; each gets an equal shard (padded, as DistributedSampler).
        shuffle: shuffle clip order every epoch (train); False keeps data set order (eval).
    """

    def __init__(
        self,
        num_samples: int,
        batch_sizes: Sequence[int],
        *,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
    ) -> None:
        if not batch_sizes or min(batch_sizes) < 1:
            raise ValueError(f"batch sizes must be positive, got {list(batch_sizes)}")
        self.batch_sizes = tuple(batch_sizes)
        self.seed = seed
        self.epoch = 0
        self.start_batch = 0
        self._indices = DistributedSampler(
            range(num_samples), num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed
        )

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        """Reshuffle for ``epoch`` (call before iterating, as with DistributedSampler).

        ``start_batch`` resumes mid-epoch: the first batches are skipped without being loaded,
        and the rest are exactly those an uninterrupted epoch would have yielded.
        """
        self.epoch = epoch
        self.start_batch = start_batch
        self._indices.set_epoch(epoch)

    def __len__(self) -> int:
        return iterations_per_epoch(len(self._indices), self.batch_sizes)

    def __iter__(self) -> Iterator[list[ClipRequest]]:
        # One generator per epoch: augmentation seeds depend on position, not on the worker.
        seeds = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        indices = iter(self._indices)
        for step in range(len(self)):
            grid = step % len(self.batch_sizes)
            size = self.batch_sizes[grid]
            draws = torch.randint(0, 2**62, (size,), generator=seeds).tolist()
            batch = [ClipRequest(next(indices), grid, s) for s in draws]
            if step >= self.start_batch:
                yield batch
