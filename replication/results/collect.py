"""Event logs of a plan's runs -> tidy CSVs: one row per run, per eval, per epoch, per grid.

The only reader of run folders for the tables and figures. Every row carries its provenance
(git commit, config hash, hardware), so any number in a table traces back to a run and the code
and machine that produced it. A run counts as finished when its ``summary.json`` exists (training
writes it last, atomically). A planned run without one is written as a ``runs.csv`` row with
``status`` "not run" and its keys only, so the tables say so instead of silently lacking it (a
user with one data set of three gets the tables of what ran); a run trained with another config
than the plan's stops collection with one error that lists them all.

Timing: ``train_s`` sums the ``epoch_s`` of every epoch, i.e. the training loop only (no
evaluation, precise BN or checkpointing), which is what the loop speedup compares. ``total_s``
is the job wall-clock from each job's process start to the summary (start-up, data set and
model build, FLOP counting, evaluations, precise BN, checkpoints and the final test included),
which the total speedup compares; logs of older code lack it, and then it is the summary's
``wall_s``, which leaves out each job's time before its training clock (``total_from`` says
which). ``setup_s`` (before the training clock, FLOP counting included), ``stats_s`` (precise
BN), ``eval_s`` (evaluations during training) and ``test_s`` (the final test) break the time
outside the loop down; a part an older log cannot tell is empty.

Curve points (``curve`` events, ``train.curve_fractions``) are ``evals.csv`` rows of kind
"curve" with the fraction of the baseline's compute, the loop time (``train_s``), the job clock
without curve evaluations (``total_s``) and the point's own cost (``eval_s``). They are a
measuring instrument the paper's runs did not have, taken more often by the baseline, so
``total_s`` is the job clock minus ``curve_s`` (their ``eval_s`` summed; ``curve_points`` of
them; empty without curve events). ``cache_s``: frame-cache builds, data preparation the job
clock leaves out (``engine.setup.set_up``).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replication.config import config_diff
from replication.io import events as ev
from replication.io.run_paths import RunPaths
from replication.results.tidy import Row, write_rows
from replication.workflow import Plan, Run, config_hash, expand_runs

PROVENANCE = ("git_sha", "git_dirty", "config_hash", "device", "torch")
KEYS = ("plan", "experiment", "variant", "label", "group", "seed", "run_id")
METRICS = ("top1", "top5", "mAP")

RUN_TYPES: dict[str, type] = {
    **dict.fromkeys(("plan", "experiment", "variant", "label", "group", "run_id"), str),
    "seed": int,
    "epochs": int,
    "iterations": int,
    "status": str,  # 'finished', or 'not run' (no summary.json: the row has its keys only)
    "train_s": float,
    "wall_s": float,
    "total_s": float,
    "total_from": str,  # 'process start', or 'training clock' (older logs: summary wall_s)
    "setup_s": float,
    "stats_s": float,
    "eval_s": float,
    "test_s": float,
    "curve_points": int,  # curve evaluations (curve events); 0 without train.curve_fractions
    "curve_s": float,  # their seconds, left out of total_s; empty without curve points
    "cache_s": float,  # frame-cache builds (data preparation), left out of total_s; older: empty
    "train_gflops": float,
    "device_kind": str,
    "num_devices": int,
    "device_hours": float,
    "clips_per_epoch": int,
    **dict.fromkeys(METRICS, float),
    "bad_videos": int,
    "starts": int,
    **dict.fromkeys(PROVENANCE, str),
    "git_dirty": bool,
}
EVAL_TYPES: dict[str, type] = {
    **{k: RUN_TYPES[k] for k in KEYS},
    # 'train' (1 view at the current grid), 'final' (multi-view, base shape) or 'curve' (1 view
    # at the test shape, at a fraction of the baseline's compute)
    "kind": str,
    "epoch": int,
    "step": int,
    "train_s": float,
    "wall_s": float,
    # curve points only: the job clock without curve evaluations, the point's own seconds, the
    # iteration of its epoch it follows and the fraction of the baseline's compute spent
    "total_s": float,
    "eval_s": float,
    "iteration": int,
    "fraction": float,
    **dict.fromkeys(METRICS, float),
    **{k: RUN_TYPES[k] for k in PROVENANCE},
}
EPOCH_TYPES: dict[str, type] = {
    **{k: RUN_TYPES[k] for k in KEYS},
    "epoch": int,
    "step": int,
    "loss": float,
    "clips": int,
    "epoch_s": float,
    "train_s": float,
    "wall_s": float,
    **{k: RUN_TYPES[k] for k in PROVENANCE},
}
GRID_TYPES: dict[str, type] = {
    **{k: RUN_TYPES[k] for k in KEYS},
    "num_frames": int,
    "crop_size": int,
    "batch_size": int,
    "logged_steps": int,
    "clips_per_s": float,
    "data_share": float,
    **{k: RUN_TYPES[k] for k in PROVENANCE},
}
TABLES = {"runs": RUN_TYPES, "evals": EVAL_TYPES, "epochs": EPOCH_TYPES, "grids": GRID_TYPES}
# Columns that results files collected by older code lack; read as empty.
ADDED_COLUMNS = frozenset(
    {"status", "total_s", "total_from", "setup_s", "stats_s", "eval_s", "test_s"}
    | {"curve_points", "curve_s", "iteration", "fraction", "cache_s"}
)
FINISHED, NOT_RUN = "finished", "not run"


class CollectError(ValueError):
    """Runs that are missing, unfinished or trained with another config than the plan's."""


@dataclass
class Collected:
    """The four tidy tables of one plan."""

    runs: list[Row]
    evals: list[Row]
    epochs: list[Row]
    grids: list[Row]

    def write(self, out_dir: Path | str) -> list[Path]:
        """Write ``runs.csv``, ``evals.csv``, ``epochs.csv``, ``grids.csv`` atomically."""
        paths = []
        for name, types in TABLES.items():
            path = Path(out_dir) / f"{name}.csv"
            write_rows(path, getattr(self, name), list(types))
            paths.append(path)
        return paths


def collect(plan: Plan, runs_root: Path | str = "runs", progress: bool = False) -> Collected:
    """Read every finished run of ``plan``; the others become "not run" rows.

    Raises:
        CollectError: listing every finished run trained with another config than the plan's.
    """
    every = expand_runs(plan)
    runs = [r for r in every if RunPaths(r.run_dir(runs_root)).summary.is_file()]
    missing = [r for r in every if r not in runs]
    if missing:
        print(
            f"{len(missing)} of {len(every)} runs of plan {plan.name!r} have not finished (no "
            f"summary.json under {Path(runs_root) / plan.name}); the tables say 'not run': "
            f"{', '.join(r.run_id for r in missing)}",
            file=sys.stderr,
        )
    stale = [msg for r in runs if (msg := _stale(r, RunPaths(r.run_dir(runs_root))))]
    if stale:
        raise CollectError(
            f"{len(stale)} runs were trained with another config than the plan's "
            f"(delete their folders to retrain): {'; '.join(stale)}"
        )
    out = Collected([], [], [], [])
    for number, run in enumerate(runs, 1):
        if progress:
            print(f"[{number}/{len(runs)}] {run.run_id}", file=sys.stderr, flush=True)
        rows = read_run(run, RunPaths(run.run_dir(runs_root)))
        out.runs.append(rows["run"])
        out.evals.extend(rows["evals"])
        out.epochs.extend(rows["epochs"])
        out.grids.extend(rows["grids"])
    out.runs.extend({**_keys(run), "status": NOT_RUN} for run in missing)
    order = {run.run_id: number for number, run in enumerate(every)}
    out.runs.sort(key=lambda row: order[row["run_id"]])  # plan order, not-run rows included
    return out


def _stale(run: Run, paths: RunPaths) -> str:
    """'' when the run's saved config agrees with the plan's (rule: config.diff)."""
    if not paths.config.is_file():
        return f"{run.run_id} (no {paths.config.name})"
    differences = config_diff(json.loads(paths.config.read_text()), run.resolved_config().to_dict())
    for key, ran, wanted in differences[:1]:
        return f"{run.run_id} ({key}: ran {ran!r}, plan {wanted!r})"
    return ""


# --------------------------------------------------------------------------- one run


def read_run(run: Run, paths: RunPaths) -> dict[str, Any]:
    """The rows of one finished run: ``run`` (a row) and lists ``evals``, ``epochs``, ``grids``."""
    log = ev.read_events(paths.events)
    summary = json.loads(paths.summary.read_text())
    config = json.loads(paths.config.read_text())
    starts = [e for e in log if e["event"] == ev.RUN_START]
    if not starts:
        raise CollectError(f"{paths.events}: no run_start event")
    keys = _keys(run)
    provenance = _provenance(starts, config)
    epochs = _epoch_rows(log, keys, provenance)
    train_s = epochs[-1]["train_s"] if epochs else 0.0
    evals = _eval_rows(log, keys, provenance, epochs)
    device = starts[-1]["device"]
    on_gpu = device.get("type") == "cuda"
    num_devices = config["train"]["num_gpus"] if on_gpu else 1
    row = {
        **keys,
        "epochs": summary["epochs"],
        "iterations": summary["steps"],
        "status": FINISHED,
        "train_s": train_s,
        "wall_s": summary["wall_s"],
        **_outside_loop(log, summary, [e for e in evals if e["kind"] == "curve"]),
        "train_gflops": summary["train_gflops"],
        "device_kind": "GPU" if on_gpu else "CPU",
        "num_devices": num_devices,
        "device_hours": train_s / 3600 * num_devices,
        "clips_per_epoch": max((e["clips"] for e in epochs), default=0),
        **{m: summary["metrics"].get(m) for m in METRICS},
        "bad_videos": summary.get("bad_videos", 0),
        "starts": len(starts),
        **provenance,
    }
    final = {
        **keys,
        "kind": "final",
        "epoch": summary["epochs"],
        "step": summary["steps"],
        "train_s": train_s,
        "wall_s": summary["wall_s"],
        **{m: summary["metrics"].get(m) for m in METRICS},
        **provenance,
    }
    return {
        "run": row,
        "evals": [*evals, final],
        "epochs": epochs,
        "grids": _grid_rows(log, keys, provenance),
    }


def _keys(run: Run) -> dict[str, Any]:
    return {
        "plan": run.plan,
        "experiment": run.experiment,
        "variant": run.variant,
        "label": run.label,
        "group": run.group,
        "seed": run.seed,
        "run_id": run.run_id,
    }


def _outside_loop(log: list[dict], summary: Mapping[str, Any], curves: list[Row]) -> dict[str, Any]:
    """The job wall-clock and what of it went outside the training loop, from one run's log.

    An evaluation older logs do not time took from its ``epoch`` event (written once precise BN
    ended) to its ``eval`` event (written once it ended): both carry the Unix time of writing.
    The curve evaluations' time (``curve_s``) is left out of the job wall-clock.
    """
    epochs = {e["epoch"]: e for e in log if e["event"] == ev.EPOCH}
    evals = [e for e in log if e["event"] == ev.EVAL]
    ends = [e for e in log if e["event"] == ev.RUN_END]
    stats = [e["stats_s"] for e in epochs.values() if "stats_s" in e]
    if all("eval_s" in e for e in evals):
        eval_s: float | None = sum(e["eval_s"] for e in evals)
    elif all(e["epoch"] in epochs for e in evals):
        eval_s = sum(e["time_s"] - epochs[e["epoch"]]["time_s"] for e in evals)
    else:
        eval_s = None
    exact = "total_s" in summary
    curve_s = sum(c["eval_s"] for c in curves) if curves else None
    cache = [e.get("cache_s") for e in log if e["event"] == ev.RUN_START]  # None: older code
    return {
        "total_s": (summary["total_s"] if exact else summary["wall_s"]) - (curve_s or 0.0),
        "total_from": "process start" if exact else "training clock",
        "setup_s": summary.get("setup_s"),
        "stats_s": sum(stats) if len(stats) == len(epochs) else None,
        "eval_s": eval_s,
        "test_s": ends[-1].get("test_s") if ends else None,
        "curve_points": len(curves),
        "curve_s": curve_s,
        "cache_s": None if None in cache else sum(cache),
    }


def _provenance(starts: list[dict], config: Mapping[str, Any]) -> dict[str, Any]:
    """Commit, config hash and hardware; a resumed run on other code or hardware shows both."""

    def joined(values: Iterable[Any]) -> str:
        return "+".join(dict.fromkeys(str(v) for v in values))

    return {
        "git_sha": joined(s["git_sha"] for s in starts),
        "git_dirty": any(bool(s["git_dirty"]) for s in starts),
        "config_hash": config_hash(config),
        "device": joined(describe_device(s["device"]) for s in starts),
        "torch": joined(s["versions"].get("torch") for s in starts),
    }


def describe_device(device: Mapping[str, Any]) -> str:
    """One-line hardware name of a ``run_start`` device record.

    >>> describe_device({"type": "cpu", "cpu": "x86_64", "cpu_threads": 2})
    'CPU x86_64, 2 threads'
    >>> describe_device({"type": "cuda", "gpu": "NVIDIA H100", "gpu_count": 8})
    '8x NVIDIA H100'
    """
    if device.get("type") == "cuda":
        return f"{device.get('gpu_count', 1)}x {device.get('gpu', 'GPU')}"
    return f"CPU {device.get('cpu', '?')}, {device.get('cpu_threads', '?')} threads"


def _epoch_rows(log: list[dict], keys: dict, provenance: dict) -> list[Row]:
    rows, train_s, previous_wall = [], 0.0, 0.0
    for e in log:
        if e["event"] != ev.EPOCH:
            continue
        # epoch_s times the training loop alone; older logs lack it, so fall back to wall_s.
        epoch_s = e.get("epoch_s", e["wall_s"] - previous_wall)
        previous_wall = e["wall_s"]
        train_s += epoch_s
        rows.append(
            {
                **keys,
                "epoch": e["epoch"],
                "step": e["step"],
                "loss": e["loss"],
                "clips": e["clips"],
                "epoch_s": epoch_s,
                "train_s": train_s,
                "wall_s": e["wall_s"],
                **provenance,
            }
        )
    return rows


def _eval_rows(log: list[dict], keys: dict, provenance: dict, epochs: list[Row]) -> list[Row]:
    """Evaluations during training ('train') and curve points ('curve'), in the log's order."""
    train_s = {row["epoch"]: row["train_s"] for row in epochs}
    curve = ("train_s", "total_s", "eval_s", "iteration", "fraction")
    return [
        {
            **keys,
            "kind": "train",
            "epoch": e["epoch"],
            "step": e["step"],
            "train_s": train_s.get(e["epoch"]),
            "wall_s": e.get("wall_s"),
            # a curve point's own clocks (its total_s leaves curve evaluations out)
            **({k: e[k] for k in curve} | {"kind": "curve"} if e["event"] == ev.CURVE else {}),
            **{m: e["metrics"].get(m) for m in METRICS},
            **provenance,
        }
        for e in log
        if e["event"] in (ev.EVAL, ev.CURVE)
    ]


def _grid_rows(log: list[dict], keys: dict, provenance: dict) -> list[Row]:
    """Throughput per grid (T, crop, batch) from the logged ``train`` steps.

    The run's first logged step also waits for loader workers to start, a one-off cost that
    would bias its grid, so it is left out.
    """
    steps = [e for e in log if e["event"] == ev.TRAIN]
    totals: dict[tuple[int, int, int], list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0])
    for e in steps[1:]:
        total = totals[(e["num_frames"], e["crop_size"], e["batch_size"])]
        total[0] += 1
        total[1] += e["data_time_s"]
        total[2] += e["compute_time_s"]
        total[3] += e["batch_size"]
    rows = []
    for (frames, crop, batch), (count, data_s, compute_s, clips) in sorted(totals.items()):
        busy = data_s + compute_s
        rows.append(
            {
                **keys,
                "num_frames": frames,
                "crop_size": crop,
                "batch_size": batch,
                "logged_steps": count,
                "clips_per_s": clips / busy if busy else None,
                "data_share": data_s / busy if busy else None,
                **provenance,
            }
        )
    return rows
