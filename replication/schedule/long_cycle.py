"""The long cycle (Wu et al. 2020, section 3.1): coarse-to-fine shapes inside each LR stage.

PySlowFast's ``get_long_cycle_schedule`` and ``init_multigrid``, as named phases. The arithmetic
order is the reference's, so float noise and round-half-to-even on the cumulative sums land
exactly where PySlowFast's do (a golden test reproduces its K400 schedule to the epoch).
"""

from __future__ import annotations

import random

from replication.config import ConfigError, DataConfig, MultigridConfig, SolverConfig
from replication.schedule.records import LongCyclePhase


def cycled_stage_bounds(solver: SolverConfig, mg: MultigridConfig) -> tuple[int, ...]:
    """Epochs bounding the LR stages that hold a long cycle (baseline epochs, before scaling).

    With the fine-tune phase the last stage (``steps[-1]`` to ``max_epoch``) is left out: it
    becomes that phase. Without it the last stage is cycled like every other one.
    """
    return solver.steps if mg.fine_tune else (*solver.steps, solver.max_epoch)


def _shapes_per_phase(data: DataConfig, mg: MultigridConfig) -> list[list[tuple[int, int, float]]]:
    """(batch factor, T, S) of every grid of each long-cycle shape, the full-size one last."""
    t0, s0 = data.num_frames, data.train_crop_size
    base_size = float(t0 * s0**2)
    out = []
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
        out.append(shapes)
    return out


def shape_order(mg: MultigridConfig, stage: int, count: int) -> list[int]:
    """The order the ``count`` long-cycle shapes are visited in LR stage ``stage``.

    Coarse to fine is the method; ``random`` is the paper's ablation: each stage a permutation
    of its own, drawn from ``multigrid.order_seed`` (the same config always gives the same
    schedule, so resume stays exact). Each shape keeps its epochs (equal iterations per shape),
    so only the order, and the rounding of phase ends, change.
    """
    order = list(range(count))
    if mg.long_cycle_order == "random":
        random.Random(mg.order_seed * 1_000_003 + stage).shuffle(order)
    return order


def long_cycle_phases(
    data: DataConfig, solver: SolverConfig, mg: MultigridConfig
) -> tuple[LongCyclePhase, ...]:
    """Every long-cycle phase with its stage, batch factor, shape and epoch span."""
    steps = cycled_stage_bounds(solver, mg)
    shapes_per_phase = _shapes_per_phase(data, mg)
    avg_bs = [sum(b for b, _, _ in shapes) / len(shapes) for shapes in shapes_per_phase]

    raw: list[tuple[int, tuple[int, int, float], float]] = []  # (stage, shape, epochs)
    total_iters = 0.0
    for stage in range(len(steps) - 1):
        stage_epochs = steps[stage + 1] - steps[stage]
        for index in shape_order(mg, stage, len(shapes_per_phase)):
            shapes = shapes_per_phase[index]
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


def rewritten_steps(
    solver: SolverConfig, mg: MultigridConfig, phases: tuple[LongCyclePhase, ...]
) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """PySlowFast's ``init_multigrid``: one step per phase, the fine-tune phase split in half.

    The first half of the fine-tune phase keeps the last cycled stage's LR and the second drops
    to the baseline's last-stage LR. Without a fine-tune phase there is nothing to split: every
    phase, the last included, is one step at gamma**stage times its batch factor.
    """
    lrs = [solver.gamma**p.stage * p.batch_factor for p in phases]
    if not mg.fine_tune:
        return (0, *(p.end_epoch for p in phases[:-1])), tuple(lrs)
    steps = [0] + [p.end_epoch for p in phases]
    steps[-1] = (steps[-2] + steps[-1]) // 2
    # The fine-tune phase's first half keeps the last cycled stage's LR at the base shape's batch
    # (PySlowFast's LRS[-2]: the same number when the shapes run coarse to fine).
    lrs = [*lrs[:-1], solver.gamma ** phases[-2].stage * phases[-1].batch_factor, lrs[-1]]
    return tuple(steps), tuple(lrs)
