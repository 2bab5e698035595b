"""The training loop: baseline or any multigrid variant, read top to bottom.

Every epoch takes its shape, batch, BN mode and LR from the schedule (Wu et al. 2020, section 3;
:mod:`replication.schedule`). A long-cycle phase change is handled in one place: switch the BN
mode in place (the model is not rebuilt; heads pool adaptively) while one loader with persistent
workers serves every grid. The loop body keeps one order: set LR, forward/backward, step, log;
then, at epoch end, precise BN, evaluate and checkpoint as the schedule says
(:mod:`replication.engine.epoch_end`). Resume is exact: model, optimizer, RNG states, sampler
position and the event log's offset are checkpointed (:mod:`replication.engine.state`), and
redone events are cut.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from replication.config import RunConfig
from replication.data.loader import loader_key
from replication.engine.curve import evaluate_due_points, start_curve
from replication.engine.epoch_end import final_test, finish_epoch, write_checkpoint
from replication.engine.network import Step, clip_gflops, same_grid_on_every_rank
from replication.engine.setup import Run, count_flops, resume, set_up, start_log, train_loader
from replication.engine.state import TrainState
from replication.engine.stop import Stopper, StopRequested, never
from replication.io import events as ev
from replication.io.run_paths import RunPaths
from replication.model import set_bn_mode
from replication.schedule import EpochPlan


def train(
    cfg: RunConfig,
    run_dir: Path,
    *,
    rank: int = 0,
    world_size: int = 1,
    should_stop: Callable[[], bool] = never,
    stop_requested: Callable[[], bool] = never,
    progress: bool = True,
    cpus: int | None = None,
    job_started: float | None = None,
) -> dict[str, Any] | None:
    """Train ``cfg`` in ``run_dir``; returns the summary, or None when stopped for a requeue.

    A finished run (``summary.json``) returns its summary. With several processes the caller has
    initialised ``torch.distributed``; ``should_stop`` (asked after every iteration) must answer
    the same on every rank at the same iteration. ``stop_requested`` (this process was asked to
    stop) is asked everywhere else: cache build, FLOP counting, precise BN, evaluation; see
    :mod:`replication.engine.stop`. ``cpus``: this process's cores (SLURM's ``cpus_per_task``;
    None: all it may use), loader workers' first. ``job_started``: where the total wall-clock
    starts (``perf_counter``; None: now); a process per job passes ``process_started()``.
    """
    paths = RunPaths(Path(run_dir))
    if paths.summary.is_file():
        return json.loads(paths.summary.read_text())
    # ---- set-up: schedule, model, optimizer, data; then resume and open the event log
    stopper = Stopper(should_stop, stop_requested)
    try:
        run = set_up(cfg, paths, rank, world_size, progress, cpus, stopper, job_started)
    except StopRequested:
        return None  # nothing trained in this job yet: the newest checkpoint on disk stands
    state, resumed_from = resume(run)
    start_log(run, state, resumed_from)
    try:
        count_flops(run, state.epoch)  # before the clock starts (tracing is not training)
        schedule, d = run.schedule, cfg.data
        loader, grid_ids = train_loader(run, state)  # one for the whole run; workers persist
        curve = start_curve(run, state, grid_ids)  # test-shape evals at fixed compute
        batches, key, first_epoch = iter(loader), None, state.epoch
        for epoch in range(first_epoch, schedule.max_epoch):
            plan = schedule.epochs[epoch]
            grids = grid_ids[epoch - first_epoch]  # run-wide ids of this epoch's grids
            # ---- long-cycle phase change: BN mode in place; the requests switch grids
            if loader_key(plan, d.sampling_rate, d.train_jitter_scales[1]) != key:
                key = loader_key(plan, d.sampling_rate, d.train_jitter_scales[1])
                switch_phase(run, plan)
            iters = loader.batch_sampler.iterations(epoch)
            run.net.model.train()
            epoch_start, loop_before, tick = time.perf_counter(), state.epoch_loop_s, None
            with epoch_bar(run, epoch, iters, state.batch, progress) as bar:
                for it in range(state.batch, iters):
                    stopper.poll()  # e.g. asked while the previous step or the loader ran
                    batch = next(batches)
                    bar.update()
                    data_time = time.perf_counter() - (tick or epoch_start)
                    lr = set_lr(run.optimizer, schedule.lr_at(epoch + it / iters))
                    out = run.net.step(batch, run.optimizer)  # forward, backward, step
                    run.manifest.update(batch["bad"])
                    gflops = 3 * out.batch_size * world_size * clip_gflops(run.net, out.shape)
                    state.count_step(out.loss, out.batch_size, gflops)
                    state.batch, tick = it + 1, time.perf_counter()
                    state.epoch_loop_s = loop_before + tick - epoch_start
                    if state.step % cfg.train.log_period == 0:
                        log_step(run, state, out, lr, data_time, grids.index(out.grid))
                    if not math.isfinite(out.loss):
                        raise FloatingPointError(f"loss is {out.loss} at epoch {epoch}, it {it}")
                    if stopper.at_iteration():  # preemption or time limit: hand back now
                        raise StopRequested
                    epoch_start += evaluate_due_points(run, state, curve)  # clock stopped
                    tick = time.perf_counter()
            # ---- end of epoch: statistics, evaluation and checkpoint as the schedule says
            finish_epoch(run, plan, state, iters, full_grid=grids[-1])
        # ---- final multi-view test at the base shape
        return final_test(run, state)
    except StopRequested:  # save the position reached (if it moved) and hand back
        if state.position != run.saved_at:
            write_checkpoint(run, state, run.wall_s())
        return None
    finally:  # on an error too: the log ends flushed, with what was written before it
        run.log.close()


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> float:
    """Set every parameter group's LR to ``lr``; returns it."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    return lr


def epoch_bar(run: Run, epoch: int, iterations: int, done: int, progress: bool) -> tqdm:
    """The progress bar of one epoch (rank 0, when progress is on)."""
    return tqdm(total=iterations, initial=done, desc=f"epoch {epoch}/{run.schedule.max_epoch}",
                unit="it", leave=False, disable=not (progress and run.rank == 0))  # fmt: skip


def switch_phase(run: Run, plan: EpochPlan) -> None:
    """Enter a long-cycle phase: BN mode in place, DDP wrapper rebuilt, ``phase`` event."""
    set_bn_mode(run.net.model, plan.bn, run.world_size)
    run.net.bn_mode = plan.bn
    run.net.rewrap()
    run.log.write(
        ev.PHASE,
        epoch=plan.epoch,
        phase=plan.phase,
        num_frames=plan.num_frames,
        crop_size=plan.crop_size,
        batch_size=plan.batch_size,
        bn={"kind": plan.bn.kind, "splits": plan.bn.splits},
        short_cycle=[g.crop_size for g in plan.short_cycle or ()],
    )


def log_step(
    run: Run, state: TrainState, out: Step, lr: float, data_time: float, grid: int
) -> None:
    """The ``train`` event of one iteration; checks every rank took the same grid (collective)."""
    world = run.world_size
    ranks = same_grid_on_every_rank(out, world)  # every rank is here at this step
    run.log.write(
        ev.TRAIN,
        epoch=state.epoch,
        step=state.step,
        loss=ev.finite(out.loss),
        lr=lr,
        num_frames=out.shape[0],
        crop_size=out.shape[1],
        batch_size=out.batch_size * world,
        grid=grid,  # index in the epoch's short cycle
        data_time_s=data_time,
        compute_time_s=out.compute_s,
        clips_per_s=out.batch_size * world / (data_time + out.compute_s),
        **({"rank_grids": ranks} if world > 1 else {}),
    )
