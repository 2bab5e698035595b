"""Config rules that tie several keys together; the first one violated is raised.

Single-key types and ranges are pydantic's (:mod:`replication.config.sections`). The backbone
rule is shared with :class:`replication.model.BackboneSpec`, so the depth a family can be built
at is checked in one place, when a config loads.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from replication.config.errors import ConfigError
from replication.config.sections import BACKBONE_DEPTHS, RunConfig


def check_backbone(arch: str, depth: int, width: int, slowfast_beta_inv: int) -> None:
    """Refuse a backbone its family cannot build (unknown arch or depth, fast-pathway width).

    Raises:
        ConfigError: naming ``model.arch``, ``model.depth`` or ``model.slowfast_beta_inv``.
    """
    if arch not in BACKBONE_DEPTHS:
        raise ConfigError("model.arch", f"unknown architecture {arch!r}")
    if depth not in BACKBONE_DEPTHS[arch]:
        raise ConfigError(
            "model.depth", f"{arch} supports {sorted(BACKBONE_DEPTHS[arch])}, got {depth}"
        )
    if arch == "slowfast" and width % slowfast_beta_inv:
        raise ConfigError(
            "model.slowfast_beta_inv",
            f"{slowfast_beta_inv} must divide width={width} (fast pathway channels)",
        )


def _check_increasing(key: str, values: Sequence[int]) -> None:
    for a, b in itertools.pairwise(values):
        if b <= a:
            raise ConfigError(key, f"must be strictly increasing, got {list(values)}")


def check_invariants(cfg: RunConfig) -> None:
    """Rules that involve more than one key; the first violated one is raised."""
    data, train, solver, mg = cfg.data, cfg.train, cfg.solver, cfg.multigrid
    check_backbone(cfg.model.arch, cfg.model.depth, cfg.model.width, cfg.model.slowfast_beta_inv)
    low, high = data.train_jitter_scales
    if low > high:
        raise ConfigError("data.train_jitter_scales", f"min {low} is larger than max {high}")
    if train.batch_size % train.num_gpus:
        raise ConfigError(
            "train.batch_size",
            f"{train.batch_size} clips do not divide over train.num_gpus={train.num_gpus}",
        )
    _check_steps(cfg)
    if solver.warmup_epochs > solver.max_epoch:
        raise ConfigError(
            "solver.warmup_epochs",
            f"{solver.warmup_epochs} is longer than solver.max_epoch={solver.max_epoch}",
        )
    if solver.lr_policy == "cosine" and solver.cosine_end_lr >= solver.base_lr:
        raise ConfigError("solver.cosine_end_lr", "must be below solver.base_lr for 'cosine'")
    if mg.long_cycle:
        _check_long_cycle(cfg)
    if mg.short_cycle or mg.long_cycle:
        for factor in mg.short_cycle_factors:
            if round(factor * data.train_crop_size) < 1:
                raise ConfigError(
                    "multigrid.short_cycle_factors",
                    f"{factor} gives a 0-pixel crop at data.train_crop_size={data.train_crop_size}",
                )
    if not mg.long_cycle and mg.short_cycle and math.floor(solver.max_epoch * mg.epoch_factor) < 1:
        raise ConfigError("multigrid.epoch_factor", "leaves no epoch to train")


def _check_steps(cfg: RunConfig) -> None:
    solver = cfg.solver
    if not solver.steps and solver.lr_policy == "cosine" and not cfg.multigrid.long_cycle:
        return  # a cosine schedule needs no stages, as PySlowFast's cosine configs ship
    if not solver.steps or solver.steps[0] != 0:
        why = " (multigrid.long_cycle runs its cycles between steps)" * cfg.multigrid.long_cycle
        raise ConfigError("solver.steps", f"must start at epoch 0, got {list(solver.steps)}{why}")
    _check_increasing("solver.steps", solver.steps)
    if solver.steps[-1] >= solver.max_epoch:
        raise ConfigError(
            "solver.steps",
            f"last step {solver.steps[-1]} must be before solver.max_epoch={solver.max_epoch}",
        )
    if solver.lrs is not None and len(solver.lrs) < len(solver.steps):
        raise ConfigError(
            "solver.lrs",
            f"needs one entry per step ({len(solver.steps)}), got {len(solver.lrs)}",
        )


def config_notes(cfg: RunConfig) -> list[str]:
    """What a valid config holds that training will not use, one line each (not errors).

    PySlowFast ships step configs with more relative LRs than steps and reads only one per
    step; such configs load here too, and the unused values are named.
    """
    solver, notes = cfg.solver, []
    if solver.lrs is not None and len(solver.lrs) > len(solver.steps):
        unused = list(solver.lrs[len(solver.steps) :])
        notes.append(
            f"solver.lrs: {len(solver.lrs)} entries for {len(solver.steps)} steps; the last "
            f"{len(unused)} ({unused}) are not used, as in PySlowFast"
        )
    return notes


def _check_long_cycle(cfg: RunConfig) -> None:
    data, solver, mg = cfg.data, cfg.solver, cfg.multigrid
    if mg.fine_tune and len(solver.steps) < 2:
        # Without the fine-tune phase a single stage (steps [0]) holds one long cycle.
        raise ConfigError(
            "solver.steps",
            "multigrid.long_cycle needs at least 2 steps: long cycles run between steps, "
            "the last stage is the fine-tune phase (multigrid.fine_tune)",
        )
    for t_factor, s_factor in mg.long_cycle_factors:
        if round(data.num_frames * t_factor) < 1:
            raise ConfigError(
                "multigrid.long_cycle_factors",
                f"[{t_factor}, {s_factor}] gives 0 frames at data.num_frames={data.num_frames}",
            )
        if round(data.train_crop_size * s_factor) < 1:
            raise ConfigError(
                "multigrid.long_cycle_factors",
                f"[{t_factor}, {s_factor}] gives 0 pixels at "
                f"data.train_crop_size={data.train_crop_size}",
            )
