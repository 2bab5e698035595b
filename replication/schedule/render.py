"""Renderings of a :class:`~replication.schedule.Schedule`: the JSON document and a text table.

The JSON layout is a public interface (others plot and compare it), so its keys and order are
fixed here and checked by tests; floats are written as Python prints them.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

from replication.schedule.records import BNMode, EpochPlan, Schedule


def schedule_to_json(schedule: Schedule) -> dict[str, Any]:
    """The machine-readable schedule document (``python -m replication schedule --json``)."""
    long_cycle = None
    if schedule.long_cycle is not None:
        long_cycle = [
            {
                "stage": p.stage,
                "batch_factor": p.batch_factor,
                "num_frames": p.num_frames,
                "crop_size": p.crop_size,
                "end_epoch": p.end_epoch,
            }
            for p in schedule.long_cycle
        ]
    cost = schedule.cost
    return {
        "max_epoch": schedule.max_epoch,
        "steps": list(schedule.steps),
        "lrs": None if schedule.lrs is None else list(schedule.lrs),
        "long_cycle": long_cycle,
        "epochs": [_epoch_json(e) for e in schedule.epochs],
        "cost": {
            "iterations": cost.iterations,
            "baseline_iterations": cost.baseline_iterations,
            "relative_compute": cost.relative_compute,
            "speedup": cost.speedup,
        },
    }


def _epoch_json(e: EpochPlan) -> dict[str, Any]:
    short = None
    if e.short_cycle is not None:
        short = [
            {"batch_size": g.batch_size, "crop_size": g.crop_size, "jitter_min": g.jitter_min}
            for g in e.short_cycle
        ]
    return {
        "epoch": e.epoch,
        "num_frames": e.num_frames,
        "crop_size": e.crop_size,
        "batch_size": e.batch_size,
        "per_gpu_batch_size": e.per_gpu_batch_size,
        "bn": {"kind": e.bn.kind, "splits": e.bn.splits, "sync_devices": e.bn.sync_devices},
        "max_sampling_rate": e.max_sampling_rate,
        "lr_start": e.lr_start,
        "lr_mid": e.lr_mid,
        "eval": e.eval,
        "checkpoint": e.checkpoint,
        "short_cycle": short,
    }


# --------------------------------------------------------------------------- text


def _bn_text(bn: BNMode) -> str:
    if bn.kind == "sub":
        return f"sub-BN x{bn.splits}"
    if bn.kind == "sync":
        return f"sync-BN x{bn.sync_devices}"
    return "BN"


def _stride_text(e: EpochPlan, sampling_rate: int) -> str:
    if e.max_sampling_rate <= sampling_rate:
        return str(sampling_rate)
    return f"{sampling_rate}-{e.max_sampling_rate}"


def _short_text(e: EpochPlan) -> str:
    if e.short_cycle is None:
        return "-"
    return " ".join(f"{g.batch_size}@{g.crop_size}" for g in e.short_cycle)


def _lr_text(schedule: Schedule, first: EpochPlan, last: EpochPlan) -> str:
    # The policy LR (after warmup) over the segment; warmup is reported in the header.
    start = schedule.lr.policy_lr(first.epoch)
    end = schedule.lr.policy_lr(last.epoch + 1 - 1e-9)
    return f"{start:.4g}" if abs(end - start) <= 1e-12 * start else f"{start:.4g}->{end:.4g}"


def _segment_key(schedule: Schedule, e: EpochPlan) -> tuple:
    stage = schedule.lr.stage_index(e.epoch) if schedule.lr.policy == "steps" else None
    return (e.phase, stage, e.num_frames, e.crop_size, e.batch_size, e.bn)


def schedule_table(schedule: Schedule, sampling_rate: int, title: str = "") -> str:
    """Readable table: one row per span of epochs with one shape, batch, BN and LR stage."""
    header = (
        "epochs",
        "T",
        "crop",
        "batch (/gpu)",
        "BN",
        "stride",
        "LR",
        "short cycle /gpu@crop",
        "evals",
    )
    rows = []
    for _, group in groupby(schedule.epochs, key=lambda e: _segment_key(schedule, e)):
        span = list(group)
        first, last = span[0], span[-1]
        rows.append(
            (
                f"{first.epoch}-{last.epoch + 1}",
                str(first.num_frames),
                str(first.crop_size),
                f"{first.batch_size} ({first.per_gpu_batch_size})",
                _bn_text(first.bn),
                _stride_text(first, sampling_rate),
                _lr_text(schedule, first, last),
                _short_text(first),
                str(sum(e.eval for e in span)),
            )
        )
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    line = "  ".join
    out = [title] if title else []
    lr = schedule.lr
    warm = ""
    if lr.warmup_epochs > 0:
        warm = (
            f", warmup {lr.warmup_start_lr:g} -> {lr.policy_lr(lr.warmup_epochs):g} "
            f"over {lr.warmup_epochs:g} epochs"
        )
    out.append(f"{schedule.max_epoch} epochs, LR policy '{lr.policy}'{warm}")
    out.append(line(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    out.append(line("-" * w for w in widths))
    out.extend(line(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
    cost = schedule.cost
    out.append(
        f"iterations {cost.iterations:,} vs baseline {cost.baseline_iterations:,} "
        f"({cost.baseline_iterations / max(cost.iterations, 1):.2f}x fewer) for "
        f"{cost.clips_per_epoch:,} clips/epoch; compute {cost.relative_compute:,.0f} baseline "
        f"iterations: theoretical speedup {cost.speedup:.2f}x"
    )
    evals = [e.epoch for e in schedule.epochs if e.eval]
    checkpoints = [e.epoch for e in schedule.epochs if e.checkpoint]
    if evals == checkpoints:
        out.append(f"eval + checkpoint epochs (0-based): {', '.join(map(str, evals))}")
    else:
        out.append(f"eval epochs (0-based): {', '.join(map(str, evals))}")
        out.append(f"checkpoint epochs (0-based): {', '.join(map(str, checkpoints))}")
    return "\n".join(out)
