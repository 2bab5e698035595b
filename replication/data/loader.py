"""Data loaders that follow the schedule: one per long-cycle phase, grids from the epoch plan.

A long-cycle phase change alters T, S, the stride range and the batch sizes; the loader is
rebuilt then (and only then: :func:`loader_key` tells), so workers restart with the new grids.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
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
    prefetch_factor: int = 2

    @staticmethod
    def auto(num_workers: int = -1, cuda: bool | None = None) -> LoaderSettings:
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
        return LoaderSettings(num_workers=num_workers, pin_memory=cuda)


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
    """Per-process batch size of each grid in ``epoch``."""
    if epoch.short_cycle is None:
        return [epoch.per_gpu_batch_size]
    return [g.batch_size for g in epoch.short_cycle]


def loader_key(epoch: EpochPlan, sampling_rate: int, jitter_max: int) -> tuple:
    """Equal keys: the previous epoch's loader can be reused; different: rebuild it."""
    return (tuple(train_grids(epoch, sampling_rate, jitter_max)), tuple(train_batch_sizes(epoch)))


class PhaseBatchSampler(Sampler[list[ClipRequest]]):
    """The batches of several consecutive epochs of one phase, back to back.

    One iterator spans the whole long-cycle phase, so loader workers prefetch the next epoch's
    first batches while the current epoch ends; a fresh iterator per epoch would make the first
    (and, with short cycles, largest) batch of every epoch wait for data, which dominates when
    epochs are a few iterations long, as the coarse phases of a small data set are.
    """

    def __init__(self, epochs: ShortCycleBatchSampler, first: int, stop: int, start_batch: int = 0):
        self.epochs, self.first, self.stop, self.start_batch = epochs, first, stop, start_batch

    @property
    def batches_per_epoch(self) -> int:
        """Iterations in each epoch of the phase."""
        return len(self.epochs)

    def __len__(self) -> int:
        return len(self.epochs) * (self.stop - self.first) - self.start_batch

    def __iter__(self) -> Iterator[list[ClipRequest]]:
        for epoch in range(self.first, self.stop):
            self.epochs.set_epoch(epoch, self.start_batch if epoch == self.first else 0)
            yield from self.epochs


def build_train_loader(
    dataset: ClipDataset,
    epoch: EpochPlan,
    *,
    stop_epoch: int,
    start_batch: int = 0,
    sampling_rate: int,
    jitter_max: int,
    seed: int,
    settings: LoaderSettings,
    rank: int = 0,
    world_size: int = 1,
) -> DataLoader:
    """A loader over epochs ``[epoch.epoch, stop_epoch)`` of one phase (same grids throughout)."""
    dataset.set_grids(train_grids(epoch, sampling_rate, jitter_max))
    sampler = ShortCycleBatchSampler(
        len(dataset), train_batch_sizes(epoch), seed=seed, rank=rank, world_size=world_size
    )
    return make_loader(
        dataset, PhaseBatchSampler(sampler, epoch.epoch, stop_epoch, start_batch), settings
    )


def build_precise_bn_loader(
    dataset: ClipDataset,
    epoch: EpochPlan,
    num_batches: int,
    *,
    seed: int,
    rank: int = 0,
    world_size: int = 1,
) -> DataLoader:
    """Batches at the phase's own shape, without short cycles (as the reference's precise BN).

    Loaded in the main process: a short pass that should not disturb the training workers.
    """
    full = len(dataset.grids) - 1  # the last grid of a short cycle is the phase's full size
    sampler = ShortCycleBatchSampler(
        len(dataset), [epoch.per_gpu_batch_size], seed=seed + 1, rank=rank, world_size=world_size
    )
    sampler.set_epoch(epoch.epoch)
    batches = [[r._replace(grid=full) for r in b] for b in islice(sampler, num_batches)]
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
    )
