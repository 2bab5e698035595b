"""The training loop: baseline or any multigrid variant, read top to bottom.

Every epoch takes its shape, batch, BN mode and LR from the schedule (Wu et al. 2020, section 3;
:mod:`replication.schedule`). A long-cycle phase change is handled in one place: switch the BN
mode in place (the model is not rebuilt; heads pool adaptively) and rebuild the loader. The loop
body keeps one order: set LR, forward/backward, step, log; then, at epoch end, precise BN,
evaluate and checkpoint as the schedule says. Resume is exact: model, optimizer, RNG states,
sampler position and the event log's offset are checkpointed, and redone events are cut.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from replication.config import RunConfig
from replication.data.build import build_dataset
from replication.data.dataset import BadVideoManifest
from replication.data.loader import (
    LoaderSettings,
    build_eval_loader,
    build_precise_bn_loader,
    build_train_loader,
    loader_key,
)
from replication.engine.checkpoint import (
    checkpoint_name,
    latest_checkpoint,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from replication.engine.evaluate import evaluate
from replication.engine.network import (
    build_network,
    clip_gflops,
    same_grid_on_every_rank,
    to_device,
)
from replication.engine.provenance import run_metadata
from replication.io import events as ev
from replication.io.atomic import atomic_write_json
from replication.io.run_paths import RunPaths
from replication.model import (
    aggregate_sub_bn_stats,
    load_normal_state_dict,
    normal_state_dict,
    precise_bn,
    set_bn_mode,
)
from replication.schedule import EpochPlan, build_schedule


def train(
    cfg: RunConfig,
    run_dir: Path,
    *,
    rank: int = 0,
    world_size: int = 1,
    should_stop: Callable[[], bool] = lambda: False,
    progress: bool = True,
    cpus: int | None = None,
) -> dict[str, Any] | None:
    """Train ``cfg`` in ``run_dir``; returns the summary, or None when stopped for a requeue.

    A finished run (``summary.json`` present) returns its summary without training again. With
    several processes, the caller has initialised ``torch.distributed``; every rank calls this,
    and ``should_stop`` must answer the same on every rank at the same iteration.
    ``cpus`` is this process's share of cores (a SLURM task's ``cpus_per_task``); None: every
    core the process may run on. The loader workers get theirs first, torch threads the rest.
    """
    paths = RunPaths(Path(run_dir))
    if paths.summary.is_file():
        return json.loads(paths.summary.read_text())
    schedule = build_schedule(cfg)
    device = (
        torch.device("cuda", rank % torch.cuda.device_count())
        if torch.cuda.is_available()
        else torch.device("cpu")
    )
    torch.manual_seed(cfg.train.seed)
    torch.use_deterministic_algorithms(cfg.train.deterministic, warn_only=True)

    # ---- data, model, optimizer
    train_set = build_dataset(cfg, "train", slowfast_alpha=None, progress=progress and rank == 0)
    net = build_network(cfg, train_set.num_classes, train_set.multi_label, device)
    train_set.slowfast_alpha = net.alpha
    val_set = build_dataset(cfg, "val", slowfast_alpha=net.alpha, progress=False)
    optimizer = torch.optim.SGD(
        net.model.parameters(),
        lr=cfg.solver.base_lr,
        momentum=cfg.solver.momentum,
        nesterov=cfg.solver.nesterov,
        weight_decay=cfg.solver.weight_decay,
    )
    settings = LoaderSettings.auto(
        cfg.data.num_workers, device.type == "cuda", cfg.data.prefetch_factor
    )
    settings = replace(settings, pin_memory=settings.pin_memory and cfg.data.pin_memory)
    if settings.num_workers:
        # Batches reach the main process through shared-memory files rather than passed file
        # descriptors: receiving one took ~4 ms, ~5 % of a smoke step, and ~1.5 ms this way.
        torch.multiprocessing.set_sharing_strategy("file_system")
    if device.type == "cpu":  # leave the loader workers their cores; oversubscription is slower
        torch.set_num_threads(max(1, (cpus or _cpu_count()) - settings.num_workers))

    # ---- resume
    start_epoch, start_batch, step, wall_before, train_gflops = 0, 0, 0, 0.0, 0.0
    partial: tuple[list[float], int] = ([], 0)  # an interrupted epoch's losses and clips so far
    ckpt_path = latest_checkpoint(paths.checkpoints) if cfg.train.auto_resume else None
    if ckpt_path is not None:
        state = load_checkpoint(ckpt_path)
        start_epoch, start_batch, step = state["epoch"], state["batch"], state["step"]
        _load_model(
            net.model, state, schedule.epochs[min(start_epoch, schedule.max_epoch - 1)], world_size
        )
        optimizer.load_state_dict(state["optimizer"])
        set_rng_state(state["rng"])
        wall_before, train_gflops = state["wall_s"], state["train_gflops"]
        partial = (state.get("epoch_losses", []), state.get("epoch_clips", 0))
        if rank == 0:  # the log's only writer; another rank could cut rank 0's first new lines
            ev.truncate_log(paths.events, state["events_offset"])
    log = ev.EventWriter(paths.events, enabled=rank == 0)
    if rank == 0:
        paths.config.write_text(json.dumps(cfg.to_dict(), indent=1))
        log.write(
            ev.RUN_START,
            **run_metadata(cfg, device),
            resumed=ckpt_path is not None,
            resumed_from=str(ckpt_path) if ckpt_path else None,
            epoch=start_epoch,
            step=step,
        )
    manifest = BadVideoManifest(paths.bad_videos)
    # FLOPs of every shape still to train at, counted before the clock starts: fvcore traces
    # the model once a shape (~0.1 s on a CPU), which inside the loop would be charged to the
    # multigrid runs' training time only (a baseline has one shape, a multigrid run ~10).
    for shape in dict.fromkeys(s for plan in schedule.epochs[start_epoch:] for s in plan.shapes):
        clip_gflops(net, shape)
    started = time.perf_counter()
    d = cfg.data
    # One loader for the whole run (grids switch by id at phase changes; workers persist).
    loader, grid_ids = build_train_loader(
        train_set,
        schedule.epochs[start_epoch:],
        start_batch=start_batch,
        sampling_rate=d.sampling_rate,
        jitter_max=d.train_jitter_scales[1],
        seed=cfg.train.seed,
        settings=settings,
        rank=rank,
        world_size=world_size,
    )
    batches, key = iter(loader), None

    for epoch in range(start_epoch, schedule.max_epoch):
        plan = schedule.epochs[epoch]
        # ---- long-cycle phase change: BN mode in place; the loader's requests switch grids
        if loader_key(plan, d.sampling_rate, d.train_jitter_scales[1]) != key:
            key = loader_key(plan, d.sampling_rate, d.train_jitter_scales[1])
            set_bn_mode(net.model, plan.bn, world_size)
            net.bn_mode = plan.bn
            net.rewrap()
            log.write(
                ev.PHASE,
                epoch=epoch,
                phase=plan.phase,
                num_frames=plan.num_frames,
                crop_size=plan.crop_size,
                batch_size=plan.batch_size,
                bn={"kind": plan.bn.kind, "splits": plan.bn.splits},
                short_cycle=[g.crop_size for g in plan.short_cycle or ()],
            )
        iters = loader.batch_sampler.iterations(epoch)
        net.model.train()
        (losses, clips), partial = partial, ([], 0)  # the epoch event covers the whole epoch
        epoch_start, tick = time.perf_counter(), time.perf_counter()
        bar = tqdm(
            total=iters,
            initial=start_batch,
            desc=f"epoch {epoch}/{schedule.max_epoch}",
            unit="it",
            leave=False,
            disable=not (progress and rank == 0),
        )
        for it in range(start_batch, iters):
            batch = next(batches)
            bar.update()
            data_time = time.perf_counter() - tick
            lr = schedule.lr_at(epoch + it / iters)
            for group in optimizer.param_groups:
                group["lr"] = lr
            out = net.step(batch, optimizer)  # forward, loss, backward, optimizer step
            manifest.update(batch["bad"])
            step, clips = step + 1, clips + out.batch_size
            train_gflops += 3 * out.batch_size * world_size * clip_gflops(net, out.shape)
            losses.append(out.loss)
            if step % cfg.train.log_period == 0:
                ranks = same_grid_on_every_rank(out, world_size)  # collective: every rank is here
                log.write(
                    ev.TRAIN,
                    epoch=epoch,
                    step=step,
                    loss=ev.finite(out.loss),
                    lr=lr,
                    num_frames=out.shape[0],
                    crop_size=out.shape[1],
                    batch_size=out.batch_size * world_size,
                    grid=grid_ids[epoch - start_epoch].index(out.grid),  # short-cycle index
                    data_time_s=data_time,
                    compute_time_s=out.compute_s,
                    clips_per_s=out.batch_size * world_size / (data_time + out.compute_s),
                    **({"rank_grids": ranks} if world_size > 1 else {}),
                )
            if not math.isfinite(out.loss):
                raise FloatingPointError(f"loss is {out.loss} at epoch {epoch}, iteration {it}")
            if should_stop():  # preemption or time limit: checkpoint mid-epoch and hand back
                _checkpoint(
                    paths,
                    net,
                    optimizer,
                    log,
                    epoch,
                    it + 1,
                    step,
                    wall_before + time.perf_counter() - started,
                    train_gflops,
                    partial=(losses, clips),
                )
                bar.close()
                log.close()
                return None
            tick = time.perf_counter()
        bar.close()
        start_batch = 0
        # The training iterations alone: what the speedup compares. Precise BN is timed apart
        # (stats_s): its fixed batch count is ~5 % of a Kinetics epoch, but most of a smoke one.
        loop_s, stats_start = time.perf_counter() - epoch_start, time.perf_counter()

        # ---- end of epoch: statistics, evaluation and checkpoint as the schedule says
        if plan.eval or plan.checkpoint:
            count = min(cfg.train.precise_bn_batches, iters)
            if cfg.train.precise_bn and count > 0:
                full = grid_ids[epoch - start_epoch][-1]  # the phase's own, full-size grid
                precise = build_precise_bn_loader(
                    train_set,
                    plan,
                    full,
                    count,
                    seed=cfg.train.seed,
                    rank=rank,
                    world_size=world_size,
                )
                precise_bn(net.model, (to_device(b["video"], net.device) for b in precise), count)
            aggregate_sub_bn_stats(net.model)
        wall = wall_before + time.perf_counter() - started
        log.write(
            ev.EPOCH,
            epoch=epoch,
            step=step,
            loss=ev.finite(sum(losses) / max(len(losses), 1)),
            wall_s=wall,
            clips=clips,
            epoch_s=loop_s,
            stats_s=time.perf_counter() - stats_start,
        )
        if plan.eval:
            metrics = _evaluate(cfg, net, val_set, settings, rank, world_size, views=(1, 1))
            log.write(ev.EVAL, epoch=epoch, step=step, metrics=metrics, wall_s=wall)
        if plan.checkpoint:
            _checkpoint(paths, net, optimizer, log, epoch + 1, 0, step, wall, train_gflops)

    # ---- final multi-view test at the base shape
    views = (cfg.test.num_ensemble_views, cfg.test.num_spatial_crops)
    metrics = _evaluate(cfg, net, val_set, settings, rank, world_size, views=views)
    wall = wall_before + time.perf_counter() - started
    summary = {
        "metrics": metrics,
        "wall_s": wall,
        "train_gflops": train_gflops,
        "steps": step,
        "epochs": schedule.max_epoch,
        "bad_videos": len(manifest.reasons),
    }
    log.write(
        ev.RUN_END,
        epoch=schedule.max_epoch,
        step=step,
        metrics=metrics,
        wall_s=wall,
        train_gflops=train_gflops,
        bad_videos=len(manifest.reasons),
    )
    log.close()
    if rank == 0:
        atomic_write_json(paths.summary, summary)
    return summary


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _load_model(model, state: dict, plan: EpochPlan, world_size: int) -> None:
    """Restore weights: in the saved BN form when the resumed epoch uses it, else normal form."""
    if state["bn_mode"] == [plan.bn.kind, plan.bn.splits, plan.bn.sync_devices]:
        set_bn_mode(model, plan.bn, world_size)
        model.load_state_dict(state["model_in_mode"])
    else:
        load_normal_state_dict(model, state["model"])


def _evaluate(cfg: RunConfig, net, val_set, settings, rank, world, views) -> dict[str, float]:
    val_set.views = views
    per_process = max(1, cfg.test.batch_size // world)
    loader = build_eval_loader(val_set, per_process, settings, rank, world)
    net.broadcast_buffers()  # every rank evaluates rank 0's model (the one it checkpoints)
    net.model.eval()
    metrics = evaluate(net.predict, loader, val_set.multi_label)
    net.model.train()
    return metrics


def _checkpoint(paths, net, optimizer, log, epoch, batch, step, wall, gflops, partial=([], 0)):
    """Save everything resume needs; ``epoch``/``batch`` say where training continues."""
    if not log.enabled:  # only rank 0 (the one writing events) writes checkpoints
        return
    path = paths.checkpoints / checkpoint_name(epoch, batch or None)
    log.write(ev.CHECKPOINT, epoch=epoch, step=step, path=str(path), batch=batch)
    state = {
        "model": normal_state_dict(net.model),
        # The model in its phase's BN form too: a mid-phase resume then keeps per-split statistics
        # bit for bit, where the normal form would re-tile aggregated ones.
        "model_in_mode": net.model.state_dict(),
        "bn_mode": [net.bn_mode.kind, net.bn_mode.splits, net.bn_mode.sync_devices],
        "optimizer": optimizer.state_dict(),
        "rng": rng_state(),
        "epoch": epoch,
        "batch": batch,
        "step": step,
        "wall_s": wall,
        "train_gflops": gflops,
        "epoch_losses": partial[0],
        "epoch_clips": partial[1],
        "events_offset": log.offset(),
    }
    save_checkpoint(path, state)
