"""Work between epochs and at the end of a run: precise BN, evaluation, checkpoints, the test.

Precise BN runs before an evaluation and before the final test, not before a checkpoint alone
(PySlowFast runs it on checkpoint epochs too). Its statistics matter only to an evaluation: the
pass replaces the running statistics outright (its first batch has momentum 1), so earlier
passes leave no trace in the final test, and training normalises with batch statistics.
Skipping it on checkpoint-only epochs saves wall-clock; the one other trace of a pass is the
random numbers its forward passes draw (dropout), so runs with dropout follow another, equally
valid random stream than they would with the reference's rule.

What runs outside the training iterations, so it is timed apart from them: the measured loop
speedup compares the iterations alone (``epoch_s``); precise BN is logged as ``stats_s`` (its
fixed batch count is ~5 % of a Kinetics epoch, but most of a smoke one), each evaluation as
``eval_s``, the final test as ``test_s``. ``total_s`` is the job wall-clock from each job's
process start (:meth:`replication.engine.setup.Run.total_s`), which the total speedup compares.
"""

from __future__ import annotations

import time
from typing import Any

from replication.data.loader import build_eval_loader, build_precise_bn_loader
from replication.engine.checkpoint import Checkpoint, rng_state, save_checkpoint
from replication.engine.evaluate import evaluate
from replication.engine.network import to_device
from replication.engine.setup import Run
from replication.engine.state import TrainState
from replication.engine.stop import StopRequested
from replication.io import events as ev
from replication.io.atomic import atomic_write_json
from replication.model import aggregate_sub_bn_stats, normal_state_dict, precise_bn
from replication.schedule import EpochPlan


def recompute_bn_stats(run: Run, plan: EpochPlan, full_grid: int, iterations: int) -> None:
    """Precise BN on the phase's own, full-size grid, then aggregate sub-batch BN statistics."""
    train = run.cfg.train
    count = min(train.precise_bn_batches, iterations)
    if train.precise_bn and count > 0:
        batches = build_precise_bn_loader(
            run.train_set, plan, full_grid, count,
            seed=train.seed, rank=run.rank, world_size=run.world_size,
        )  # fmt: skip
        # A stop between batches aborts the pass and leaves the statistics as they were.
        net = run.net
        videos = (to_device(net.device_batch(b)["video"], net.device)
                  for b in run.stopper.polled(batches))  # fmt: skip
        precise_bn(run.net.model, videos, count)
    aggregate_sub_bn_stats(run.net.model)


def evaluate_views(run: Run, views: tuple[int, int]) -> dict[str, float]:
    """Metrics on the validation set with ``views`` = (temporal clips, spatial crops) per video."""
    run.val_set.views = views
    per_process = max(1, run.cfg.test.batch_size // run.world_size)
    loader = build_eval_loader(run.val_set, per_process, run.settings, run.rank, run.world_size)
    run.net.broadcast_buffers()  # every rank evaluates rank 0's model (the one it checkpoints)
    run.net.model.eval()
    try:
        batches = run.stopper.polled(loader)
        return evaluate(run.net.predict, batches, run.val_set.multi_label, run.cfg.test.ensemble)
    finally:
        run.net.model.train()


def write_checkpoint(run: Run, state: TrainState, wall_s: float) -> None:
    """Save everything resume needs; ``state.epoch``/``state.batch`` say where training goes on.

    Only rank 0 (the one writing events) writes checkpoints.
    """
    if run.log is None or not run.log.enabled:
        return
    batch = state.batch or None
    path = run.paths.checkpoint(state.epoch, batch)
    run.log.write(
        ev.CHECKPOINT, epoch=state.epoch, step=state.step, path=str(path), batch=state.batch
    )
    state.wall_s, state.events_offset = wall_s, run.log.offset()
    state.total_s, state.setup_s = run.total_s(), run.setup_s()
    run.saved_at = state.position
    net = run.net
    checkpoint = Checkpoint(
        state=state,
        model=normal_state_dict(net.model),
        model_in_mode=net.model.state_dict(),
        bn_mode=[net.bn_mode.kind, net.bn_mode.splits, net.bn_mode.sync_devices],
        optimizer=run.optimizer.state_dict(),
        rng=rng_state(),
        scaler=net.scaler.state_dict() if net.scaler is not None else {},
    )
    save_checkpoint(path, checkpoint)


def finish_epoch(
    run: Run, plan: EpochPlan, state: TrainState, iterations: int, full_grid: int
) -> None:
    """Statistics, the ``epoch`` event, evaluation and checkpoint as the schedule says.

    A stop inside (precise BN, evaluation) drops this epoch's ``epoch`` event again and leaves
    ``state`` at the epoch's last batch: a resumed run redoes exactly this work.
    """
    stats_start, mark = time.perf_counter(), run.log.offset()
    try:
        if plan.eval or plan.epoch + 1 == run.schedule.max_epoch:  # before the final test too
            recompute_bn_stats(run, plan, full_grid, iterations)
        elif plan.checkpoint:  # its plain-BN copy needs the sub-batch statistics merged
            aggregate_sub_bn_stats(run.net.model)
        wall = run.wall_s()
        losses = state.epoch_losses
        run.log.write(
            ev.EPOCH,
            epoch=plan.epoch,
            step=state.step,
            loss=ev.finite(sum(losses) / max(len(losses), 1)),
            wall_s=wall,
            clips=state.epoch_clips,
            epoch_s=state.epoch_loop_s,
            stats_s=time.perf_counter() - stats_start,
            total_s=run.total_s(),
        )
        if plan.eval:
            eval_start = time.perf_counter()
            metrics = evaluate_views(run, (1, 1))
            run.log.write(
                ev.EVAL, epoch=plan.epoch, step=state.step, metrics=metrics, wall_s=wall,
                eval_s=time.perf_counter() - eval_start, total_s=run.total_s(),
            )  # fmt: skip
    except StopRequested:
        run.log.cut(mark)
        raise
    state.next_epoch()
    if plan.checkpoint:
        write_checkpoint(run, state, wall)


def final_test(run: Run, state: TrainState) -> dict[str, Any]:
    """The multi-view test at the base shape; writes ``run_end`` and, last, ``summary.json``."""
    test, test_start = run.cfg.test, time.perf_counter()
    metrics = evaluate_views(run, (test.num_ensemble_views, test.num_spatial_crops))
    test_s = time.perf_counter() - test_start
    wall, total, setup = run.wall_s(), run.total_s(), run.setup_s()
    max_epoch, bad = run.schedule.max_epoch, len(run.manifest.reasons)
    summary = {
        "metrics": metrics,
        "wall_s": wall,
        "total_s": total,
        "setup_s": setup,
        "train_gflops": state.train_gflops,
        "steps": state.step,
        "epochs": max_epoch,
        "bad_videos": bad,
    }
    run.log.write(
        ev.RUN_END,
        epoch=max_epoch,
        step=state.step,
        metrics=metrics,
        wall_s=wall,
        total_s=total,
        setup_s=setup,
        test_s=test_s,
        train_gflops=state.train_gflops,
        bad_videos=bad,
    )
    run.log.close()
    if run.rank == 0:
        atomic_write_json(run.paths.summary, summary)
    return summary
