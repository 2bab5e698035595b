"""Data loaders that follow the schedule: one for a whole run, grids from the epoch plans.

A long-cycle phase change alters T, S, the stride range and the batch sizes; the run's one
loader knows every grid in advance and each request names its grid by a run-wide id, so the
workers persist across phases (:func:`loader_key` tells the trainer when a phase changes).
Precise BN and evaluation get short loaders of their own.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

import torch
from torch.utils.data import DataLoader, Sampler

from replication.data.dataset import ClipDataset, collate_clips
from replication.data.sampler import ClipRequest, ShortCycleBatchSampler
from replication.data.transforms import Grid
from replication.schedule import EpochPlan


@dataclass(frozen=True)
class LoaderSettings:
    """Worker processes, pinned memory and prefetch depth of a DataLoader."""

    num_workers: int
    pin_memory: bool
    prefetch_factor: int = 4

    @staticmethod
    def auto(
        num_workers: int = -1, cuda: bool | None = None, prefetch_factor: int = 4
    ) -> LoaderSettings:
        """Sensible defaults for the machine (``num_workers=-1`` means choose).

        On a GPU node: up to 8 workers per process and pinned memory. On a small CPU machine:
        one worker, so decoding overlaps compute without starving it of cores.
        """
        cuda = torch.cuda.is_available() if cuda is None else cuda
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        if num_workers < 0:
            num_workers = (
                min(8, max(1, (cpus or 1) - 1)) if cuda else (1 if (cpus or 1) <= 4 else 2)
            )
        return LoaderSettings(num_workers, pin_memory=cuda, prefetch_factor=prefetch_factor)


def train_grids(epoch: EpochPlan, sampling_rate: int, jitter_max: int) -> list[Grid]:
    """The grids the sampler cycles through in ``epoch`` (one without a short cycle)."""
    max_rate = max(epoch.max_sampling_rate, sampling_rate)
    t = epoch.num_frames
    if epoch.short_cycle is None:
        return [Grid(t, epoch.crop_size, sampling_rate, max_rate, epoch.jitter_min, jitter_max)]
    return [
        Grid(t, g.crop_size, sampling_rate, max_rate, g.jitter_min, jitter_max)
        for g in epoch.short_cycle
    ]


def train_batch_sizes(epoch: EpochPlan) -> list[int]:
    """Per-process batch size of each grid in ``epoch`` (the schedule's ``batch_sizes``)."""
    return list(epoch.batch_sizes)


def loader_key(epoch: EpochPlan, sampling_rate: int, jitter_max: int) -> tuple:
    """Equal keys: the previous epoch's loader can be reused; different: rebuild it."""
    return (tuple(train_grids(epoch, sampling_rate, jitter_max)), epoch.batch_sizes)


class RunBatchSampler(Sampler[list[ClipRequest]]):
    """Every training batch of a run, epoch after epoch and phase after phase, from one iterator.

    The data set holds every grid of the run and each request names its grid by a run-wide id,
    so one DataLoader with persistent workers serves all long-cycle phases: workers never
    restart and keep prefetching across epoch and phase ends. A fresh loader per epoch or phase
    makes the first (and, with short cycles, largest) batch of each wait for worker start-up,
    which dominated the data wait of the coarse phases, whose epochs are few iterations long.

    Args:
        plans: the schedule's epochs, from the first one to run.
        grid_ids: per plan, the run-wide id of each of its grids.
        num_samples, seed, rank, world_size: as :class:`ShortCycleBatchSampler`.
        start_batch: batches of the first epoch already done (mid-epoch resume).
    """

    def __init__(
        self,
        plans: Sequence[EpochPlan],
        grid_ids: Sequence[Sequence[int]],
        num_samples: int,
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        start_batch: int = 0,
    ) -> None:
        self.plans, self.grid_ids, self.start_batch = list(plans), list(grid_ids), start_batch
        self._samplers = {}
        for plan in self.plans:
            sizes = plan.batch_sizes
            if sizes not in self._samplers:
                self._samplers[sizes] = ShortCycleBatchSampler(
                    num_samples, sizes, seed=seed, rank=rank, world_size=world_size
                )

    def iterations(self, epoch: int) -> int:
        """Batches in ``epoch`` (a whole epoch, resumed or not)."""
        plan = next(p for p in self.plans if p.epoch == epoch)
        return len(self._samplers[plan.batch_sizes])

    def __len__(self) -> int:
        return sum(self.iterations(p.epoch) for p in self.plans) - self.start_batch

    def __iter__(self) -> Iterator[list[ClipRequest]]:
        for n, (plan, ids) in enumerate(zip(self.plans, self.grid_ids, strict=True)):
            sampler = self._samplers[plan.batch_sizes]
            sampler.set_epoch(plan.epoch, self.start_batch if n == 0 else 0)
            for batch in sampler:
                yield [r._replace(grid=ids[r.grid]) for r in batch]


def run_grids(plans: Sequence[EpochPlan], sampling_rate: int, jitter_max: int):
    """Every distinct grid of ``plans`` and, per plan, the run-wide ids of its grids."""
    grids: list[Grid] = []
    ids = []
    for plan in plans:
        local = train_grids(plan, sampling_rate, jitter_max)
        for grid in local:
            if grid not in grids:
                grids.append(grid)
        ids.append([grids.index(g) for g in local])
    return grids, ids


def build_train_loader(
    dataset: ClipDataset,
    plans: Sequence[EpochPlan],
    *,
    start_batch: int = 0,
    sampling_rate: int,
    jitter_max: int,
    seed: int,
    settings: LoaderSettings,
    rank: int = 0,
    world_size: int = 1,
) -> tuple[DataLoader, list[list[int]]]:
    """One loader for every epoch in ``plans``; also returns each plan's run-wide grid ids."""
    grids, ids = run_grids(plans, sampling_rate, jitter_max)
    dataset.set_grids(grids)
    sampler = RunBatchSampler(
        plans,
        ids,
        len(dataset),
        seed=seed,
        rank=rank,
        world_size=world_size,
        start_batch=start_batch,
    )
    return make_loader(dataset, sampler, settings), ids


def build_precise_bn_loader(
    dataset: ClipDataset,
    epoch: EpochPlan,
    full_grid: int,
    num_batches: int,
    *,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
) -> DataLoader:
    """Batches at the phase's own shape (grid ``full_grid``), without short cycles.

    As the reference's precise BN; loaded in the main process, a short pass beside the workers.
    """
    sampler = ShortCycleBatchSampler(
        len(dataset), [epoch.per_gpu_batch_size], seed=seed + 1, rank=rank, world_size=world_size
    )
    sampler.set_epoch(epoch.epoch)
    batches = [[r._replace(grid=full_grid) for r in b] for b in islice(sampler, num_batches)]
    return make_loader(dataset, batches, LoaderSettings(num_workers=0, pin_memory=False))


def build_eval_loader(
    dataset: ClipDataset, batch_size: int, settings: LoaderSettings, rank: int = 0, world: int = 1
) -> DataLoader:
    """Sequential loader over (video, view) items of an evaluation data set, sharded by rank."""
    indices = list(range(rank, len(dataset), world))
    batches = [indices[i : i + batch_size] for i in range(0, len(indices), batch_size)]
    return make_loader(dataset, batches, settings)


def make_loader(dataset: ClipDataset, batch_sampler, settings: LoaderSettings) -> DataLoader:
    """A DataLoader over ``batch_sampler``'s batches with the project's collate function."""
    workers = settings.num_workers
    return DataLoader(
        dataset,
        batch_sampler=batch_sampler,
        num_workers=workers,
        pin_memory=settings.pin_memory,
        prefetch_factor=settings.prefetch_factor if workers else None,
        # Workers outlive an epoch: restarting them costs the first batch of every epoch its
        # start-up time, which with multigrid's short coarse epochs was most of the data wait.
        persistent_workers=workers > 0,
        collate_fn=collate_clips,
        worker_init_fn=ignore_job_signals if workers else None,
    )


def ignore_job_signals(worker_id: int) -> None:
    """In a loader worker: ignore the signals a cluster sends to stop or requeue the job.

    SLURM delivers them to every process of the job step, and a forked worker inherits the
    main process's handlers (submitit's requeue handler among them): every worker would then
    try to checkpoint and requeue the job too. Only the main process acts; a worker goes when
    its main process does.
    """
    for signum in (signal.SIGUSR2, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
