"""Everything a training run needs before its first step, built once by :func:`set_up`.

The device, the data sets, the network, the optimizer, the loader settings and the thread
budget; then :func:`resume` restores a checkpoint into them and :func:`start_log` opens the event
log. Kept apart from the loop so that :func:`replication.engine.loop.train` reads top to bottom.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from replication.config import RunConfig
from replication.data.build import build_dataset
from replication.data.dataset import BadVideoManifest, ClipDataset
from replication.data.frames import FrameCache
from replication.data.loader import LoaderSettings, build_train_loader
from replication.engine.checkpoint import Checkpoint, load_checkpoint, set_rng_state
from replication.engine.init_weights import InitReport, load_init_weights, weights_file
from replication.engine.network import Network, build_network, clip_gflops
from replication.engine.provenance import run_metadata
from replication.engine.state import TrainState
from replication.engine.stop import Stopper
from replication.io import events as ev
from replication.io.atomic import atomic_write_json
from replication.io.run_paths import RunPaths
from replication.model import load_normal_state_dict, set_bn_mode
from replication.schedule import EpochPlan, Schedule, build_schedule


@dataclass
class Run:
    """One training process's view of a run: config, schedule, data, model and log."""

    cfg: RunConfig
    paths: RunPaths
    schedule: Schedule
    rank: int
    world_size: int
    net: Network
    optimizer: torch.optim.Optimizer
    train_set: ClipDataset
    val_set: ClipDataset
    settings: LoaderSettings
    manifest: BadVideoManifest
    stopper: Stopper = field(default_factory=Stopper)
    log: ev.EventWriter | None = None  # opened by start_log, after resume cut it back
    wall_before: float = 0.0  # wall-clock of earlier job runs, seconds
    started: float = field(default_factory=time.perf_counter)  # this job's training clock
    saved_at: tuple[int, int] | None = None  # position of the newest checkpoint on disk
    job_started: float = field(default_factory=time.perf_counter)  # this job's process start
    total_before: float = 0.0  # job wall-clock of earlier job runs (TrainState.total_s), seconds
    setup_before: float = 0.0  # their time before the training clock (TrainState.setup_s)
    cache_s: float = 0.0  # this job's frame-cache builds, left out of its clock (set_up says why)
    init_report: InitReport | None = None  # a fresh start from train.init_weights

    def wall_s(self) -> float:
        """Wall-clock of the run so far from each job's training clock, earlier jobs included."""
        return self.wall_before + time.perf_counter() - self.started

    def total_s(self) -> float:
        """Wall-clock of the run so far from each job's process start, earlier jobs included."""
        return self.total_before + time.perf_counter() - self.job_started

    def setup_s(self) -> float:
        """Of :meth:`total_s`, the time before each job's training clock started."""
        return self.setup_before + self.started - self.job_started


def process_started(fallback: float) -> float:
    """When this process started, on the ``time.perf_counter`` clock; ``fallback`` if unknown.

    The job's wall-clock counts from here: interpreter start and imports (torch takes seconds)
    are part of what a run costs. Linux states a process's start in clock ticks since boot
    (``/proc/self/stat``, field 22) and the time since boot in ``/proc/uptime`` (10 ms
    resolution). Only for a process started for one job (``python -m replication train``, a
    submitit job): a long-lived one (a notebook, the test suite) would charge its earlier life
    to the run, so :func:`replication.engine.loop.train` counts from its call by default.
    """
    try:
        after_name = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        since_boot = int(after_name[19]) / os.sysconf("SC_CLK_TCK")
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return fallback
    return time.perf_counter() - max(0.0, uptime - since_boot)


def pick_device(rank: int) -> torch.device:
    """This rank's GPU when there is one, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", rank % torch.cuda.device_count())
    return torch.device("cpu")


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _loader_settings(cfg: RunConfig, device: torch.device, cpus: int | None) -> LoaderSettings:
    """Workers, pinning and prefetch; on a CPU torch threads get the cores workers leave."""
    data = cfg.data
    settings = LoaderSettings.auto(data.num_workers, device.type == "cuda", data.prefetch_factor)
    settings = replace(settings, pin_memory=settings.pin_memory and data.pin_memory)
    if settings.num_workers:
        # Batches reach the main process through shared-memory files rather than passed file
        # descriptors: receiving one took ~4 ms, ~5 % of a smoke step, and ~1.5 ms this way.
        torch.multiprocessing.set_sharing_strategy("file_system")
    if device.type == "cpu":  # leave the loader workers their cores; oversubscription is slower
        torch.set_num_threads(max(1, (cpus or _cpu_count()) - settings.num_workers))
    return settings


def set_up(
    cfg: RunConfig,
    paths: RunPaths,
    rank: int,
    world_size: int,
    progress: bool,
    cpus: int | None,
    stopper: Stopper,
    job_started: float | None = None,
) -> Run:
    """Schedule, seeded model and optimizer, data sets and loader settings of a fresh start.

    Raises:
        StopRequested: when asked to stop while the frame cache is built.
    """
    job_started = time.perf_counter() if job_started is None else job_started
    if cfg.train.init_weights:  # a missing source fails now, not after the frame cache
        weights_file(cfg.train.init_weights)
    schedule = build_schedule(cfg)
    device = pick_device(rank)
    torch.manual_seed(cfg.train.seed)
    torch.use_deterministic_algorithms(cfg.train.deterministic, warn_only=True)
    shown = progress and rank == 0
    train_set = build_dataset(cfg, "train", progress=shown, poll=stopper.poll)
    net = build_network(cfg, train_set.num_classes, train_set.multi_label, device)
    train_set.slowfast_alpha = net.alpha
    val_set = build_dataset(cfg, "val", slowfast_alpha=net.alpha, progress=False, poll=stopper.poll)
    solver = cfg.solver
    optimizer = torch.optim.SGD(
        net.model.parameters(),
        lr=solver.base_lr,
        momentum=solver.momentum,
        nesterov=solver.nesterov,
        weight_decay=solver.weight_decay,
    )
    settings = _loader_settings(cfg, device, cpus)
    manifest = BadVideoManifest(paths.bad_videos)
    # A frame-cache build is data preparation, done once per data set by whichever run comes
    # first (the store's copies are a workflow step for the same reason): charging it to that
    # run's job clock would slow one run of one variant by chance (36 s of a 45-s smoke run).
    sources = (train_set.source, val_set.source)
    cache_s = sum(s.build_s for s in sources if isinstance(s, FrameCache))
    return Run(cfg, paths, schedule, rank, world_size, net, optimizer, train_set, val_set,
               settings, manifest, stopper, job_started=job_started + cache_s,
               cache_s=cache_s)  # fmt: skip


def _load_model(net: Network, saved: Checkpoint, plan: EpochPlan, world_size: int) -> None:
    """Restore weights: in the saved BN form when the resumed epoch uses it, else normal form."""
    if saved.bn_mode == [plan.bn.kind, plan.bn.splits, plan.bn.sync_devices]:
        set_bn_mode(net.model, plan.bn, world_size)
        net.model.load_state_dict(saved.model_in_mode)
    else:
        load_normal_state_dict(net.model, saved.model)


def _newest_readable(paths: RunPaths) -> tuple[Checkpoint, Path] | None:
    """The most advanced checkpoint that loads; an unreadable one is named and skipped.

    A checkpoint is written atomically, so a torn file should not happen; a damaged disk or a
    file copied in by hand still should not end a run that has an older good checkpoint.
    """
    for path in paths.checkpoints_newest_first():
        try:
            return load_checkpoint(path), path
        except Exception as err:  # torch.load raises many types for a damaged file
            reason = " ".join(str(err).split())[:200] or type(err).__name__
            print(f"warning: {path}: unreadable checkpoint, skipped ({reason})", file=sys.stderr)
    return None


def resume(run: Run) -> tuple[TrainState, Path | None]:
    """The state to continue from: the newest checkpoint's (restored into the run), or a new one.

    Rank 0 cuts the event log back to the checkpoint's offset (it is the log's only writer;
    another rank could cut rank 0's first new lines).
    """
    found = _newest_readable(run.paths) if run.cfg.train.auto_resume else None
    if found is None:
        if run.cfg.train.init_weights:  # fine-tuning: the source's weights, a fresh optimizer
            run.init_report = load_init_weights(run.net.model, run.cfg.train.init_weights)
        return TrainState(), None
    saved, path = found
    state = saved.state
    run.saved_at = state.position
    plan = run.schedule.epochs[min(state.epoch, run.schedule.max_epoch - 1)]
    _load_model(run.net, saved, plan, run.world_size)
    run.optimizer.load_state_dict(saved.optimizer)
    if run.net.scaler is not None and saved.scaler:  # fp16: resume with the loss scale reached
        run.net.scaler.load_state_dict(saved.scaler)
    set_rng_state(saved.rng)
    run.wall_before = state.wall_s
    # Checkpoints older than the job clock lack it: their training clock is the best left.
    run.total_before, run.setup_before = state.total_s or state.wall_s, state.setup_s
    if run.rank == 0:
        ev.truncate_log(run.paths.events, state.events_offset)
    return state, path


def start_log(run: Run, state: TrainState, resumed_from: Path | None) -> None:
    """Open the event log, save the resolved config and write ``run_start`` (rank 0 only)."""
    run.log = ev.EventWriter(run.paths.events, enabled=run.rank == 0)
    if run.rank != 0:
        return
    atomic_write_json(run.paths.config, run.cfg.to_dict())
    run.log.write(
        ev.RUN_START,
        **run_metadata(run.cfg, run.net.device),
        resumed=resumed_from is not None,
        resumed_from=str(resumed_from) if resumed_from else None,
        epoch=state.epoch,
        step=state.step,
        startup_s=run.total_s() - run.total_before,  # this job: process start to here
        cache_s=run.cache_s,  # frame-cache builds, left out of startup_s and the job clock
        **({"init_weights": run.init_report.to_event()} if run.init_report else {}),
    )


def count_flops(run: Run, first_epoch: int) -> None:
    """FLOPs of every shape still to train at, counted before the training clock starts.

    fvcore traces the model once a shape (~0.1 s on a CPU), which inside the loop would be
    charged to the multigrid runs' training time only (a baseline has one shape, a multigrid
    run ~10).
    """
    epochs = run.schedule.epochs[first_epoch:]
    for shape in dict.fromkeys(s for plan in epochs for s in plan.shapes):
        run.stopper.poll()
        clip_gflops(run.net, shape)
    run.started = time.perf_counter()


def train_loader(run: Run, state: TrainState) -> tuple[DataLoader, list[list[int]]]:
    """One loader for every epoch still to train, from ``state``'s position; and its grid ids.

    Grids switch by id at phase changes, so the workers persist across epochs and phases.
    """
    data = run.cfg.data
    return build_train_loader(
        run.train_set,
        run.schedule.epochs[state.epoch :],
        start_batch=state.batch,
        sampling_rate=data.sampling_rate,
        jitter_max=data.train_jitter_scales[1],
        seed=run.cfg.train.seed,
        settings=run.settings,
        rank=run.rank,
        world_size=run.world_size,
    )
