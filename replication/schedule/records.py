"""Named records of the multigrid schedule: phases, BN modes, short-cycle grids, epochs, cost.

Plain frozen dataclasses, no behaviour beyond a few derived properties, so the schedule can be
printed, compared, stored as JSON (:mod:`replication.schedule.render`) and read by the trainer
and the figures alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from replication.schedule.lr import LRSchedule

# Nominal clips per epoch for the cost estimate: about the size of the Kinetics-400 train split.
# The speedup barely depends on it; it only sets where per-epoch iteration counts are floored.
DEFAULT_CLIPS_PER_EPOCH = 240_000


@dataclass(frozen=True)
class LongCyclePhase:
    """One long-cycle shape held for a span of epochs (one entry of PySlowFast's schedule)."""

    stage: int  # LR stage; the fine-tune phase (if any) has stage == number of multigrid stages
    batch_factor: int  # global batch = batch_factor * train.batch_size
    num_frames: int  # T of this shape
    crop_size: int  # S of this shape, in pixels
    start_epoch: int
    end_epoch: int  # exclusive; equal to start_epoch for a zero-length phase


@dataclass(frozen=True)
class BNMode:
    """How BatchNorm groups the per-process batch (PySlowFast's ``update_long_cycle``)."""

    kind: Literal["batch", "sub", "sync"]
    splits: int = 1  # sub-batch BN: groups of clips per process
    sync_devices: int = 1  # sync BN: processes whose statistics are pooled


@dataclass(frozen=True)
class ShortCycleGrid:
    """One grid of the short cycle, in the order the sampler cycles them."""

    batch_size: int  # per process, in clips
    crop_size: int  # in pixels
    jitter_min: int  # minimum short side of the random resize, in pixels


@dataclass(frozen=True)
class EpochShape:
    """Shape, batch, BN mode, stride range and grids of an epoch: its plan before LR and cadence."""

    epoch: int
    phase: int | None  # index into Schedule.long_cycle, None without long cycle
    num_frames: int
    crop_size: int
    batch_size: int  # global, in clips
    per_gpu_batch_size: int
    bn: BNMode
    jitter_min: int  # random-resize minimum short side at crop_size, in pixels
    max_sampling_rate: int  # stride drawn from [sampling_rate, this]; 0 without long cycle
    short_cycle: tuple[ShortCycleGrid, ...] | None

    @property
    def batch_sizes(self) -> tuple[int, ...]:
        """Per-process batch size of each grid, in the sampler's cycle order."""
        if self.short_cycle:
            return tuple(g.batch_size for g in self.short_cycle)
        return (self.per_gpu_batch_size,)

    @property
    def shapes(self) -> tuple[tuple[int, int], ...]:
        """(T, S) of every grid this epoch trains at, in the sampler's cycle order."""
        if self.short_cycle:
            return tuple((self.num_frames, g.crop_size) for g in self.short_cycle)
        return ((self.num_frames, self.crop_size),)


@dataclass(frozen=True)
class EpochPlan(EpochShape):
    """Everything the trainer needs to know about one epoch: its shape, LR and cadence."""

    lr_start: float
    lr_mid: float
    eval: bool
    checkpoint: bool


@dataclass(frozen=True)
class Cost:
    """Theoretical cost against the baseline (the same config with multigrid off)."""

    clips_per_epoch: int
    iterations: int
    baseline_iterations: int
    relative_compute: float  # sum over iterations of batch*T*S^2, in baseline iterations
    speedup: float  # baseline compute / this schedule's compute


@dataclass(frozen=True)
class Schedule:
    """The whole schedule; ``epochs[e]`` describes epoch ``e``."""

    max_epoch: int
    steps: tuple[int, ...]
    lrs: tuple[float, ...] | None
    long_cycle: tuple[LongCyclePhase, ...] | None
    epochs: tuple[EpochPlan, ...]
    lr: LRSchedule
    cost: Cost

    def lr_at(self, epoch: float) -> float:
        """Absolute LR at a fractional epoch (``epoch + iteration / iterations_per_epoch``)."""
        return self.lr.at(epoch)
