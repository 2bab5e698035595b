"""Multigrid in your own training loop: the schedule, the short-cycle sampler, BatchNorm.

Everything a plain PyTorch loop needs to train any video model with multigrid (Wu et al.,
CVPR 2020), importable from this one module; ``examples/multigrid_loop.py`` trains torchvision's
R3D-18 with it in about 80 lines, and ``docs/api.md`` walks through it. Per epoch::

    schedule = build_schedule(cfg, clips_per_epoch=len(dataset))
    for plan in schedule.epochs:                       # an EpochPlan per epoch
        set_bn_mode(model, plan.bn, world_size)        # sub-batch BN on large coarse batches
        dataset.grids = train_grids(plan, cfg.data.sampling_rate, cfg.data.train_jitter_scales[1])
        sampler = ShortCycleBatchSampler(len(dataset), plan.batch_sizes, seed=0)
        sampler.set_epoch(plan.epoch)                  # lists of ClipRequest(index, grid, seed)
        for it, batch in enumerate(DataLoader(dataset, batch_sampler=sampler)):
            lr = schedule.lr_at(plan.epoch + it / len(sampler))
            ...                                        # forward, backward, step
        if plan.eval:
            precise_bn(model, batches_at_the_phase_shape, num_batches)

What each piece guarantees:

- :func:`build_schedule` reproduces PySlowFast's multigrid schedule to the epoch (long cycle,
  short cycle, LR rewrite, BN mode per phase, evaluation epochs) and its cost against the
  baseline; :class:`EpochPlan` carries one epoch's shape, batches, BN mode, LR and cadence.
- :class:`ShortCycleBatchSampler` cycles the short-cycle grids every iteration with their batch
  sizes, the same grid on every rank at the same iteration, ``len()`` equal to what it yields
  (:func:`iterations_per_epoch`), and augmentation seeds that depend on position, not worker.
- :func:`set_bn_mode` switches every ``BatchNorm3d`` of any model between plain, sub-batch
  (:class:`SubBatchNorm3d`) and sync BN in place, keeping the Parameters (optimizer state stays
  valid) and the statistics; :func:`normal_state_dict` / :func:`load_normal_state_dict` save and
  load a model whatever its current mode; :func:`precise_bn` recomputes statistics before eval.
- :func:`train_view` / :func:`render_view` resample a decoded ``(T, H, W, 3)`` uint8 video on a
  :class:`Grid` (random stride, resize, crop, flip), costing O(T * S^2) whatever the source size.

Importing this module imports torch, fvcore (for precise BN) and PyAV, not pytorchvideo.
"""

from replication.config import (
    DataConfig,
    MultigridConfig,
    RunConfig,
    SolverConfig,
    TrainConfig,
    load_config,
)
from replication.data.loader import train_grids
from replication.data.sampler import ClipRequest, ShortCycleBatchSampler
from replication.data.transforms import Grid, View, render_view, train_view
from replication.model.bn_modes import load_normal_state_dict, normal_state_dict, set_bn_mode
from replication.model.precise_bn import precise_bn
from replication.model.sub_batch_norm import SubBatchNorm3d, aggregate_sub_bn_stats
from replication.schedule import (
    BNMode,
    EpochPlan,
    LongCyclePhase,
    Schedule,
    ShortCycleGrid,
    build_schedule,
    iterations_per_epoch,
    load_schedule,
)

__all__ = [
    "BNMode",
    "ClipRequest",
    "DataConfig",
    "EpochPlan",
    "Grid",
    "LongCyclePhase",
    "MultigridConfig",
    "RunConfig",
    "Schedule",
    "ShortCycleBatchSampler",
    "ShortCycleGrid",
    "SolverConfig",
    "SubBatchNorm3d",
    "TrainConfig",
    "View",
    "aggregate_sub_bn_stats",
    "build_schedule",
    "iterations_per_epoch",
    "load_config",
    "load_normal_state_dict",
    "load_schedule",
    "normal_state_dict",
    "precise_bn",
    "render_view",
    "set_bn_mode",
    "train_grids",
    "train_view",
]
