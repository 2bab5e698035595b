"""Data loaders that follow the schedule: one per long-cycle phase, grids from the epoch plan.

A long-cycle phase change alters T, S, the stride range and the batch sizes; the loader is
rebuilt then (and only then: :func:`loader_key` tells), so workers restart with the new grids.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch.utils.data import DataLoader

from replication.data.dataset import ClipDataset, collate_clips
from replication.data.sampler import ShortCycleBatchSampler
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


def build_train_loader(
    dataset: ClipDataset,
    epoch: EpochPlan,
    *,
    sampling_rate: int,
    jitter_max: int,
    seed: int,
    settings: LoaderSettings,
    rank: int = 0,
    world_size: int = 1,
) -> DataLoader:
    """A loader for ``epoch``'s phase; call ``loader.batch_sampler.set_epoch(e)`` every epoch."""
    dataset.set_grids(train_grids(epoch, sampling_rate, jitter_max))
    sampler = ShortCycleBatchSampler(
        len(dataset), train_batch_sizes(epoch), seed=seed, rank=rank, world_size=world_size
    )
    sampler.set_epoch(epoch.epoch)
    return make_loader(dataset, sampler, settings)


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
        persistent_workers=False,
        collate_fn=collate_clips,
    )
