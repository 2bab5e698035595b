"""What varies from epoch to epoch: shape, batch, BN mode, stride range, short-cycle grids, cadence.

PySlowFast's ``update_long_cycle`` (batch and BN mode per phase), its ``ShortCycleBatchSampler``
and dataset (grids, section 3.2) and ``is_eval_epoch`` (evaluation and checkpoint epochs), each
as a function of the sub-configs it needs.
"""

from __future__ import annotations

from replication.config import ConfigError, DataConfig, MultigridConfig, TrainConfig
from replication.schedule.records import BNMode, EpochShape, LongCyclePhase, ShortCycleGrid


def bn_mode(per_gpu_batch: int, bn_base_size: int) -> BNMode:
    """Plain, sub-batch or sync BN, so statistics cover about ``bn_base_size`` clips.

    >>> bn_mode(64, 8), bn_mode(4, 8).kind
    (BNMode(kind='sub', splits=8, sync_devices=1), 'sync')
    """
    factor = per_gpu_batch / bn_base_size
    if factor < 1:
        return BNMode("sync", sync_devices=int(1.0 / factor))
    if factor > 1:
        return BNMode("sub", splits=int(factor))
    return BNMode("batch")


def jitter(jitter_min: int, crop: int, base_crop: int) -> int:
    """The random resize's minimum short side at ``crop``.

    A smaller crop keeps a similar field of view: the resize range's minimum shrinks with it.
    """
    return round(float(jitter_min) * crop / base_crop)


def short_cycle_grids(
    data: DataConfig, mg: MultigridConfig, crop: int, per_gpu_batch: int
) -> tuple[ShortCycleGrid, ...]:
    """Grids of PySlowFast's ``ShortCycleBatchSampler`` and dataset at the current crop.

    The batch factors are taken against the *current* long-cycle crop while the crop sizes come
    from the base crop, which gives Figure 2(d)'s 16x/8x/8x ... pattern (SlowFast issue #429).
    """
    s0, jitter_min = data.train_crop_size, data.train_jitter_scales[0]
    grids = []
    for factor in mg.short_cycle_factors:
        batch_factor = round((float(crop) / (factor * s0)) ** 2)
        if batch_factor < 1:
            raise ConfigError(
                "multigrid.short_cycle_factors",
                f"{factor} gives a 0-clip batch at long-cycle crop {crop}",
            )
        grid_crop = round(factor * s0)
        grids.append(
            ShortCycleGrid(
                per_gpu_batch * batch_factor, grid_crop, jitter(jitter_min, grid_crop, s0)
            )
        )
    grids.append(ShortCycleGrid(per_gpu_batch, crop, jitter(jitter_min, crop, s0)))
    return tuple(grids)


def is_period_epoch(
    epoch: int, max_epoch: int, phases: tuple[LongCyclePhase, ...] | None, freq: int, period: int
) -> bool:
    """PySlowFast's ``is_eval_epoch`` / ``is_checkpoint_epoch`` (identical rules)."""
    if epoch + 1 == max_epoch:
        return True
    if phases is not None:
        for phase in phases:
            if epoch < phase.end_epoch:
                every = max((phase.end_epoch - phase.start_epoch) // freq + 1, 1)
                return (phase.end_epoch - 1 - epoch) % every == 0
    return (epoch + 1) % period == 0


def phase_of(phases: tuple[LongCyclePhase, ...], epoch: int) -> int:
    """Index of the long-cycle phase holding ``epoch`` (the last one past the end)."""
    for index, phase in enumerate(phases):
        if epoch < phase.end_epoch:
            return index
    return len(phases) - 1


def epoch_shapes(
    data: DataConfig,
    train: TrainConfig,
    mg: MultigridConfig,
    phases: tuple[LongCyclePhase, ...] | None,
    max_epoch: int,
) -> tuple[EpochShape, ...]:
    """Shape, batch, BN, stride and grids of every epoch, before LR and cadence are added."""
    gpus, multigrid_on = train.num_gpus, mg.long_cycle or mg.short_cycle
    rows = []
    for epoch in range(max_epoch):
        if phases is None:
            phase, t, s, factor = None, data.num_frames, data.train_crop_size, 1
            bn, max_rate = BNMode("batch"), 0
        else:
            phase = phase_of(phases, epoch)
            p = phases[phase]
            t, s, factor = p.num_frames, p.crop_size, p.batch_factor
            bn = bn_mode(factor * train.batch_size // gpus, mg.bn_base_size)
            max_rate = data.sampling_rate * (data.num_frames // t)
        batch = factor * train.batch_size
        per_gpu = batch // gpus
        low = data.train_jitter_scales[0]
        rows.append(
            EpochShape(
                epoch=epoch,
                phase=phase,
                num_frames=t,
                crop_size=s,
                batch_size=batch,
                per_gpu_batch_size=per_gpu,
                bn=bn,
                jitter_min=jitter(low, s, data.train_crop_size) if multigrid_on else low,
                max_sampling_rate=max_rate,
                short_cycle=short_cycle_grids(data, mg, s, per_gpu) if mg.short_cycle else None,
            )
        )
    return tuple(rows)


def check_bn_splits(shapes: tuple[EpochShape, ...], bn_base_size: int) -> None:
    """Refuse a per-process batch that sub-batch BN cannot split into equal groups.

    Raises:
        ConfigError: naming ``train.batch_size`` and the first epoch at fault.
    """
    for row in shapes:
        if row.bn.kind == "sub" and row.per_gpu_batch_size % row.bn.splits:
            raise ConfigError(
                "train.batch_size",
                f"per-process batch {row.per_gpu_batch_size} at epoch {row.epoch} "
                f"(T={row.num_frames}, S={row.crop_size}) does not split into {row.bn.splits} "
                f"sub-batch BN groups of multigrid.bn_base_size={bn_base_size}",
            )
