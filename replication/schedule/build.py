"""The multigrid schedule (Wu et al., CVPR 2020, section 3): pure math, no torch.

From a config this computes, as named records, everything that varies during multigrid
training: the long-cycle phases, the rewritten LR steps, and for every epoch the mini-batch shape,
global and per-process batch, BatchNorm mode, temporal stride range, LR, eval/checkpoint flags and
short-cycle grids, plus the schedule's theoretical cost against the baseline.

It reproduces PySlowFast's ``projects/multigrid`` schedule exactly (same float arithmetic, same
round-half-to-even on cumulative sums, same zero-length phases and fine-tune split), and runs
where PySlowFast crashes: a long cycle without short cycles (the fine-tune phase uses the last
long-cycle shape) and a long cycle with cosine LR (see :class:`replication.lr.LRSchedule`).
One extension is not in PySlowFast: ``multigrid.fine_tune=false`` drops the fine-tune phase and
runs the long cycle in the last LR stage too (the no-fine-tune ablation of config/paper.yaml).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from replication.config.errors import ConfigError
from replication.schedule.lr import LRSchedule

if TYPE_CHECKING:
    from replication.config.sections import RunConfig

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
class EpochPlan:
    """Everything the trainer needs to know about one epoch."""

    epoch: int
    phase: int | None  # index into Schedule.long_cycle, None without long cycle
    num_frames: int
    crop_size: int
    batch_size: int  # global, in clips
    per_gpu_batch_size: int
    bn: BNMode
    jitter_min: int  # random-resize minimum short side at crop_size, in pixels
    max_sampling_rate: int  # stride drawn from [sampling_rate, this]; 0 without long cycle
    lr_start: float
    lr_mid: float
    eval: bool
    checkpoint: bool
    short_cycle: tuple[ShortCycleGrid, ...] | None

    @property
    def shapes(self) -> tuple[tuple[int, int], ...]:
        """(T, S) of every grid this epoch trains at, in the sampler's cycle order."""
        if self.short_cycle:
            return tuple((self.num_frames, g.crop_size) for g in self.short_cycle)
        return ((self.num_frames, self.crop_size),)


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


# --------------------------------------------------------------------------- long cycle


def _cycled_stage_bounds(cfg: RunConfig) -> tuple[int, ...]:
    """Epochs bounding the LR stages that hold a long cycle (baseline epochs, before scaling).

    With the fine-tune phase the last stage (``steps[-1]`` to ``max_epoch``) is left out: it
    becomes that phase. Without it the last stage is cycled like every other one.
    """
    solver = cfg.solver
    return solver.steps if cfg.multigrid.fine_tune else (*solver.steps, solver.max_epoch)


def _long_cycle_phases(cfg: RunConfig) -> tuple[LongCyclePhase, ...]:
    """PySlowFast's ``get_long_cycle_schedule``, as named phases.

    The arithmetic order below is the reference's, so float noise and round-half-to-even on the
    cumulative sums land exactly where PySlowFast's do.
    """
    data, solver, mg = cfg.data, cfg.solver, cfg.multigrid
    steps, t0, s0 = _cycled_stage_bounds(cfg), data.num_frames, data.train_crop_size
    base_size = float(t0 * s0**2)

    shapes_per_phase: list[list[tuple[int, int, float]]] = []  # (batch factor, T, S)
    avg_bs: list[float] = []
    for t_factor, s_factor in mg.long_cycle_factors:
        t = round(t0 * t_factor)
        s = round(s0 * s_factor)
        # Short-cycle sizes enter unrounded (158.39... for 224), as in the reference.
        sizes: list[float] = [s0 * f for f in mg.short_cycle_factors] if mg.short_cycle else []
        shapes = [(round(base_size / (t * x * x)), t, x) for x in [*sizes, s]]
        if shapes[-1][0] < 1:
            raise ConfigError(
                "multigrid.long_cycle_factors",
                f"[{t_factor}, {s_factor}] gives a batch factor of 0 (shape larger than the base)",
            )
        shapes_per_phase.append(shapes)
        avg_bs.append(sum(b for b, _, _ in shapes) / len(shapes))

    raw: list[tuple[int, tuple[int, int, float], float]] = []  # (stage, shape, epochs)
    total_iters = 0.0
    for stage in range(len(steps) - 1):
        stage_epochs = steps[stage + 1] - steps[stage]
        for index, shapes in enumerate(shapes_per_phase):
            epochs = stage_epochs * avg_bs[index] / sum(avg_bs)  # equal iterations per shape
            total_iters += epochs / avg_bs[index]
            raw.append((stage, shapes[-1], epochs))
    if mg.fine_tune:
        iter_saving = steps[-1] / total_iters
        # Fine-tune phase at the finest shape, with the same iteration saving as the rest.
        ft_epochs = (solver.max_epoch - steps[-1]) / iter_saving * avg_bs[-1]
        raw.append((len(steps) - 1, shapes_per_phase[-1][-1], ft_epochs))

    scale = solver.max_epoch * mg.epoch_factor / sum(e for _, _, e in raw)
    phases, cumulative, start = [], 0.0, 0
    for stage, (batch_factor, t, s), epochs in raw:
        cumulative += epochs * scale
        end = round(cumulative)
        phases.append(LongCyclePhase(stage, batch_factor, t, int(s), start, end))
        start = end
    return tuple(phases)


def _rewritten_steps(
    cfg: RunConfig, phases: tuple[LongCyclePhase, ...]
) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """PySlowFast's ``init_multigrid``: one step per phase, the fine-tune phase split in half.

    The first half of the fine-tune phase keeps the last cycled stage's LR and the second drops
    to the baseline's last-stage LR. Without a fine-tune phase there is nothing to split: every
    phase, the last included, is one step at gamma**stage times its batch factor.
    """
    lrs = [cfg.solver.gamma**p.stage * p.batch_factor for p in phases]
    if not cfg.multigrid.fine_tune:
        return (0, *(p.end_epoch for p in phases[:-1])), tuple(lrs)
    steps = [0] + [p.end_epoch for p in phases]
    steps[-1] = (steps[-2] + steps[-1]) // 2
    lrs = [*lrs[:-1], lrs[-2], lrs[-1]]
    return tuple(steps), tuple(lrs)


# --------------------------------------------------------------------------- per epoch


def _bn_mode(per_gpu_batch: int, bn_base_size: int) -> BNMode:
    factor = per_gpu_batch / bn_base_size
    if factor < 1:
        return BNMode("sync", sync_devices=int(1.0 / factor))
    if factor > 1:
        return BNMode("sub", splits=int(factor))
    return BNMode("batch")


def _short_cycle_grids(cfg: RunConfig, crop: int, per_gpu_batch: int) -> tuple[ShortCycleGrid, ...]:
    """Grids of PySlowFast's ``ShortCycleBatchSampler`` and dataset at the current crop.

    The batch factors are taken against the *current* long-cycle crop while the crop sizes come
    from the base crop, which gives Figure 2(d)'s 16x/8x/8x ... pattern (SlowFast issue #429).
    """
    s0, jitter_min = cfg.data.train_crop_size, cfg.data.train_jitter_scales[0]
    grids = []
    for factor in cfg.multigrid.short_cycle_factors:
        batch_factor = round((float(crop) / (factor * s0)) ** 2)
        if batch_factor < 1:
            raise ConfigError(
                "multigrid.short_cycle_factors",
                f"{factor} gives a 0-clip batch at long-cycle crop {crop}",
            )
        grid_crop = round(factor * s0)
        grids.append(
            ShortCycleGrid(
                per_gpu_batch * batch_factor, grid_crop, _jitter(jitter_min, grid_crop, s0)
            )
        )
    grids.append(ShortCycleGrid(per_gpu_batch, crop, _jitter(jitter_min, crop, s0)))
    return tuple(grids)


def _jitter(jitter_min: int, crop: int, base_crop: int) -> int:
    # A smaller crop keeps a similar field of view: the resize range's minimum shrinks with it.
    return round(float(jitter_min) * crop / base_crop)


def _is_period_epoch(
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


def _phase_of(phases: tuple[LongCyclePhase, ...], epoch: int) -> int:
    for index, phase in enumerate(phases):
        if epoch < phase.end_epoch:
            return index
    return len(phases) - 1


def _epoch_shapes(
    cfg: RunConfig, phases: tuple[LongCyclePhase, ...] | None, max_epoch: int
) -> list[dict]:
    """Shape, batch, BN, stride and grids of every epoch, before LR and cadence are added."""
    data, train, mg = cfg.data, cfg.train, cfg.multigrid
    gpus, multigrid_on = train.num_gpus, mg.long_cycle or mg.short_cycle
    rows = []
    for epoch in range(max_epoch):
        if phases is None:
            phase, t, s, factor = None, data.num_frames, data.train_crop_size, 1
            bn, max_rate = BNMode("batch"), 0
        else:
            phase = _phase_of(phases, epoch)
            p = phases[phase]
            t, s, factor = p.num_frames, p.crop_size, p.batch_factor
            bn = _bn_mode(factor * train.batch_size // gpus, mg.bn_base_size)
            max_rate = data.sampling_rate * (data.num_frames // t)
        batch = factor * train.batch_size
        per_gpu = batch // gpus
        jitter = data.train_jitter_scales[0]
        rows.append(
            dict(
                epoch=epoch,
                phase=phase,
                num_frames=t,
                crop_size=s,
                batch_size=batch,
                per_gpu_batch_size=per_gpu,
                bn=bn,
                jitter_min=_jitter(jitter, s, data.train_crop_size) if multigrid_on else jitter,
                max_sampling_rate=max_rate,
                short_cycle=_short_cycle_grids(cfg, s, per_gpu) if mg.short_cycle else None,
            )
        )
    return rows


def _check_bn_splits(cfg: RunConfig, rows: list[dict]) -> None:
    for row in rows:
        bn = row["bn"]
        if bn.kind == "sub" and row["per_gpu_batch_size"] % bn.splits:
            raise ConfigError(
                "train.batch_size",
                f"per-process batch {row['per_gpu_batch_size']} at epoch {row['epoch']} "
                f"(T={row['num_frames']}, S={row['crop_size']}) does not split into {bn.splits} "
                f"sub-batch BN groups of multigrid.bn_base_size={cfg.multigrid.bn_base_size}",
            )


# --------------------------------------------------------------------------- cost


def _iterations_per_epoch(clips_per_process: int, batch_sizes: list[int]) -> int:
    # A drop_last loader: floor(clips / mean batch), as PySlowFast's samplers count.
    return math.floor(clips_per_process / (sum(batch_sizes) / len(batch_sizes)))


def _epoch_work(row: dict, clips_per_process: int, gpus: int) -> tuple[int, int]:
    """Iterations and compute (sum of global batch * T * S^2) of one epoch."""
    grids = row["short_cycle"] or (ShortCycleGrid(row["per_gpu_batch_size"], row["crop_size"], 0),)
    iters = _iterations_per_epoch(clips_per_process, [g.batch_size for g in grids])
    compute = 0
    for index, grid in enumerate(grids):
        count = -(-(iters - index) // len(grids)) if iters > index else 0  # grids cycle 0,1,2,0..
        compute += count * grid.batch_size * gpus * row["num_frames"] * grid.crop_size**2
    return iters, compute


def _cost(cfg: RunConfig, rows: list[dict], clips_per_epoch: int) -> Cost:
    data, train = cfg.data, cfg.train
    clips_per_process = -(-clips_per_epoch // train.num_gpus)  # DistributedSampler pads
    works = [_epoch_work(row, clips_per_process, train.num_gpus) for row in rows]
    base_iters_per_epoch = _iterations_per_epoch(
        clips_per_process, [train.batch_size // train.num_gpus]
    )
    baseline_iterations = cfg.solver.max_epoch * base_iters_per_epoch
    base_iteration_compute = train.batch_size * data.num_frames * data.train_crop_size**2
    relative = sum(c for _, c in works) / base_iteration_compute
    return Cost(
        clips_per_epoch=clips_per_epoch,
        iterations=sum(i for i, _ in works),
        baseline_iterations=baseline_iterations,
        relative_compute=relative,
        speedup=baseline_iterations / relative if relative else math.inf,
    )


# --------------------------------------------------------------------------- assembly


def _lr_schedule(
    cfg: RunConfig,
    steps: tuple[int, ...],
    lrs: tuple[float, ...] | None,
    max_epoch: int,
    phases: tuple[LongCyclePhase, ...] | None,
    rows: list[dict],
) -> LRSchedule:
    solver = cfg.solver
    extra: dict = {}
    if solver.lr_policy == "cosine" and phases is not None:
        # Iterations per epoch are proportional to 1 / mean per-process batch.
        weights = [1.0 / _mean_batch(row) for row in rows]
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
        base_lr=solver.base_lr,
        steps=steps,
        lrs=lrs if solver.lr_policy == "steps" else None,
        max_epoch=max_epoch,
        warmup_epochs=solver.warmup_epochs,
        warmup_start_lr=solver.warmup_start_lr,
        cosine_end_lr=solver.cosine_end_lr,
        **extra,
    )


def _mean_batch(row: dict) -> float:
    grids = row["short_cycle"]
    sizes = [g.batch_size for g in grids] if grids else [row["per_gpu_batch_size"]]
    return sum(sizes) / len(sizes)


def build_schedule(cfg: RunConfig, clips_per_epoch: int = DEFAULT_CLIPS_PER_EPOCH) -> Schedule:
    """Compute the full multigrid (or baseline) schedule of a validated config.

    Raises:
        ConfigError: when the schedule shows the config cannot run (a zero batch factor, or a
            per-process batch that sub-batch BN cannot split evenly).
    """
    solver, mg = cfg.solver, cfg.multigrid
    base_lrs = solver.lrs or tuple(solver.gamma**i for i in range(len(solver.steps)))
    phases: tuple[LongCyclePhase, ...] | None = None
    if mg.long_cycle:
        phases = _long_cycle_phases(cfg)
        steps, lrs = _rewritten_steps(cfg, phases)
        max_epoch = phases[-1].end_epoch
        if solver.lr_policy == "cosine":
            steps = (0, *(p.end_epoch for p in phases[:-1]))
    elif mg.short_cycle:
        steps = tuple(int(s * mg.epoch_factor) for s in solver.steps)
        lrs, max_epoch = base_lrs, int(solver.max_epoch * mg.epoch_factor)
    else:
        steps, lrs, max_epoch = solver.steps, base_lrs, solver.max_epoch
    if max_epoch < 1:
        raise ConfigError("multigrid.epoch_factor", "leaves no epoch to train")

    rows = _epoch_shapes(cfg, phases, max_epoch)
    _check_bn_splits(cfg, rows)
    lr = _lr_schedule(cfg, steps, lrs, max_epoch, phases, rows)
    freq, train = mg.eval_freq, cfg.train
    epochs = tuple(
        EpochPlan(
            **row,
            lr_start=lr.at(row["epoch"]),
            lr_mid=lr.at(row["epoch"] + 0.5),
            eval=_is_period_epoch(row["epoch"], max_epoch, phases, freq, train.eval_period),
            checkpoint=_is_period_epoch(
                row["epoch"], max_epoch, phases, freq, train.checkpoint_period
            ),
        )
        for row in rows
    )
    return Schedule(
        max_epoch=max_epoch,
        steps=tuple(steps),
        lrs=lr.lrs,
        long_cycle=phases,
        epochs=epochs,
        lr=lr,
        cost=_cost(cfg, rows, clips_per_epoch),
    )
