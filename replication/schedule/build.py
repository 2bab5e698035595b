"""The multigrid schedule (Wu et al., CVPR 2020, section 3): pure math, no torch.

From a config this computes, as named records (:mod:`replication.schedule.records`), everything
that varies during multigrid training: the long-cycle phases, the rewritten LR steps, and for
every epoch the mini-batch shape, global and per-process batch, BatchNorm mode, temporal stride
range, LR, eval/checkpoint flags and short-cycle grids, plus the schedule's theoretical cost
against the baseline.

It reproduces PySlowFast's ``projects/multigrid`` schedule exactly (same float arithmetic, same
round-half-to-even on cumulative sums, same zero-length phases and fine-tune split), and runs
where PySlowFast crashes: a long cycle without short cycles (the fine-tune phase uses the last
long-cycle shape) and a long cycle with cosine LR (see :class:`replication.schedule.lr.LRSchedule`).
One extension is not in PySlowFast: ``multigrid.fine_tune=false`` drops the fine-tune phase and
runs the long cycle in the last LR stage too (the no-fine-tune ablation of config/paper.yaml).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from replication.config import (
    ConfigError,
    RunConfig,
    SolverConfig,
    config_source,
    load_config,
)
from replication.schedule.epochs import check_bn_splits, epoch_shapes, is_period_epoch
from replication.schedule.iterations import schedule_cost
from replication.schedule.long_cycle import long_cycle_phases, rewritten_steps
from replication.schedule.lr import LRSchedule
from replication.schedule.records import EpochPlan, EpochShape, LongCyclePhase, Schedule

# Nominal clips per epoch for the cost estimate: about the size of the Kinetics-400 train split.
# The speedup barely depends on it; it only sets where per-epoch iteration counts are floored.
DEFAULT_CLIPS_PER_EPOCH = 240_000


def lr_scale(solver: SolverConfig, batch_size: int) -> float:
    """Linear scaling of the written LRs to the global batch (1 without a reference batch).

    >>> from replication.config import SolverConfig
    >>> lr_scale(SolverConfig(lr_reference_batch=64), 8), lr_scale(SolverConfig(), 8)
    (0.125, 1.0)
    """
    return batch_size / solver.lr_reference_batch if solver.lr_reference_batch else 1.0


def _lr_schedule(
    solver: SolverConfig,
    scale: float,
    steps: tuple[int, ...],
    lrs: tuple[float, ...] | None,
    max_epoch: int,
    phases: tuple[LongCyclePhase, ...] | None,
    shapes: tuple[EpochShape, ...],
) -> LRSchedule:
    extra: dict = {}
    if solver.lr_policy == "cosine" and phases is not None:
        # Iterations per epoch are proportional to 1 / mean per-process batch.
        weights = [1.0 / (sum(s.batch_sizes) / len(s.batch_sizes)) for s in shapes]
        total, done, progress = sum(weights), 0.0, [0.0]
        for w in weights:
            done += w
            progress.append(done / total)
        extra = dict(
            cosine_factors=tuple(p.batch_factor for p in phases),
            phase_ends=tuple(p.end_epoch for p in phases),
            progress=tuple(progress),
        )
    return LRSchedule(
        policy=solver.lr_policy,
        base_lr=solver.base_lr * scale,
        steps=steps,
        lrs=lrs if solver.lr_policy == "steps" else None,
        max_epoch=max_epoch,
        warmup_epochs=solver.warmup_epochs,
        warmup_start_lr=solver.warmup_start_lr * scale,
        cosine_end_lr=solver.cosine_end_lr * scale,
        **extra,
    )


def _stages(
    cfg: RunConfig,
) -> tuple[tuple[LongCyclePhase, ...] | None, tuple[int, ...], tuple[float, ...], int]:
    """Long-cycle phases (or None), LR steps, relative LRs and training length in epochs."""
    data, solver, mg = cfg.data, cfg.solver, cfg.multigrid
    stages = solver.steps or (0,)  # a cosine config may have no steps: one stage
    base_lrs = (solver.lrs or tuple(solver.gamma**i for i in range(len(stages))))[: len(stages)]
    if mg.long_cycle:
        phases = long_cycle_phases(data, solver, mg)
        steps, lrs = rewritten_steps(solver, mg, phases)
        if solver.lr_policy == "cosine":
            steps = (0, *(p.end_epoch for p in phases[:-1]))
        return phases, steps, lrs, phases[-1].end_epoch
    if mg.short_cycle:
        steps = tuple(int(s * mg.epoch_factor) for s in stages)
        return None, steps, base_lrs, int(solver.max_epoch * mg.epoch_factor)
    return None, stages, base_lrs, solver.max_epoch


def _plan(shape: EpochShape, lr: LRSchedule, flags: tuple[bool, bool]) -> EpochPlan:
    fields = {name: getattr(shape, name) for name in EpochShape.__dataclass_fields__}
    return EpochPlan(
        **fields,
        lr_start=lr.at(shape.epoch),
        lr_mid=lr.at(shape.epoch + 0.5),
        eval=flags[0],
        checkpoint=flags[1],
    )


def build_schedule(cfg: RunConfig, clips_per_epoch: int = DEFAULT_CLIPS_PER_EPOCH) -> Schedule:
    """Compute the full multigrid (or baseline) schedule of a validated config.

    Raises:
        ConfigError: when the schedule shows the config cannot run (a zero batch factor, or a
            per-process batch that sub-batch BN cannot split evenly).
    """
    data, train, mg = cfg.data, cfg.train, cfg.multigrid
    phases, steps, lrs, max_epoch = _stages(cfg)
    if max_epoch < 1:
        raise ConfigError("multigrid.epoch_factor", "leaves no epoch to train")
    shapes = epoch_shapes(data, train, mg, phases, max_epoch)
    check_bn_splits(shapes, mg.bn_base_size)
    scale = lr_scale(cfg.solver, train.batch_size)
    lr = _lr_schedule(cfg.solver, scale, steps, lrs, max_epoch, phases, shapes)
    epochs = tuple(
        _plan(shape, lr, _cadence(shape.epoch, max_epoch, phases, cfg)) for shape in shapes
    )
    cost = schedule_cost(
        shapes,
        clips_per_epoch,
        world_size=train.num_gpus,
        base_batch_size=train.batch_size,
        base_clip_size=data.num_frames * data.train_crop_size**2,
        baseline_epochs=cfg.solver.max_epoch,
    )
    return Schedule(max_epoch, tuple(steps), lr.lrs, phases, epochs, lr, cost)


def _cadence(
    epoch: int, max_epoch: int, phases: tuple[LongCyclePhase, ...] | None, cfg: RunConfig
) -> tuple[bool, bool]:
    """(evaluate, checkpoint) after ``epoch``."""
    freq, train = cfg.multigrid.eval_freq, cfg.train
    return (
        train.eval_during_training
        and is_period_epoch(epoch, max_epoch, phases, freq, train.eval_period),
        is_period_epoch(epoch, max_epoch, phases, freq, train.checkpoint_period),
    )


def load_schedule(
    path: str | Path, overrides: Iterable[str] = (), clips_per_epoch: int = DEFAULT_CLIPS_PER_EPOCH
) -> tuple[RunConfig, Schedule]:
    """Load a config and build its schedule; a ConfigError of either names the file and key.

    What every command that runs a config calls first: the config loader checks what the keys
    alone show, the schedule what only the schedule shows (BN splits, batch factors).
    """
    cfg = load_config(path, overrides)
    with config_source(path, overrides):
        return cfg, build_schedule(cfg, clips_per_epoch)
