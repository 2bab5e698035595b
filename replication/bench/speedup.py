"""Measured multigrid speedup: baseline vs long+short cycle, same machine, one invocation.

``python -m replication.bench.speedup [--config config/smoke/baseline.yaml]
[--multigrid-config config/smoke/multigrid.yaml] [--set k=v ...]`` trains the baseline config,
then the multigrid config with long + short cycles (one after the other, never side by side), as
the smoke plan runs them. Without ``--multigrid-config`` (or with it empty) and another
``--config``, the multigrid run is ``--config`` with both cycles switched on. It then prints and
saves wall-clock, iterations, training FLOPs, measured and theoretical speedup and their ratio,
accuracy, and the share of each step spent waiting for data, per grid. Numbers come from the
runs' event logs only. "Theoretical" is the ratio of counted training FLOPs, as in the tables;
the schedule's own batch x T x S^2 estimate is printed beside it and runs higher, because a
clip's FLOPs shrink more slowly than T x S^2 (strided feature maps round up, a SlowFast slow
pathway keeps at least one frame at T=2, the classifier's cost is fixed).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from replication.config import ConfigError, load_config
from replication.data.build import load_split
from replication.engine.loop import train
from replication.io import events as ev
from replication.io.atomic import atomic_write_json
from replication.io.run_paths import RunPaths
from replication.schedule import build_schedule

SMOKE_BASELINE, SMOKE_MULTIGRID = "config/smoke/baseline.yaml", "config/smoke/multigrid.yaml"
VARIANTS = {
    "baseline": ["multigrid.long_cycle=false", "multigrid.short_cycle=false"],
    "long+short": ["multigrid.long_cycle=true", "multigrid.short_cycle=true"],
}


def summarize(run_dir: Path) -> dict:
    """Timing, work and accuracy of one finished run, from its event log."""
    log = ev.read_events(RunPaths(run_dir).events)
    end = next(e for e in reversed(log) if e["event"] == ev.RUN_END)
    train_s = sum(e["epoch_s"] for e in log if e["event"] == ev.EPOCH)
    per_grid: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    first_step = min((e["step"] for e in log if e["event"] == ev.TRAIN), default=0)
    for e in log:
        # The run's first step also waits for worker start-up: a one-off, reported apart.
        if e["event"] == ev.TRAIN and e["step"] != first_step:
            row = per_grid[(e["num_frames"], e["crop_size"])]
            row[0] += e["data_time_s"]
            row[1] += e["compute_time_s"]
            row[2] += e["batch_size"]
    waits = {
        f"{t}x{s}": {"data_wait_share": d / (d + c), "clips_per_s": n / (d + c)}
        for (t, s), (d, c, n) in sorted(per_grid.items())
    }
    first = next((e for e in log if e["event"] == ev.TRAIN), None)
    return {
        "train_s": train_s,
        "first_batch_wait_s": first["data_time_s"] if first else 0.0,
        "wall_s": end["wall_s"],
        "iterations": end["step"],
        "train_gflops": end["train_gflops"],
        "metrics": end["metrics"],
        "grids": waits,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m replication.bench.speedup", description=__doc__
    )
    parser.add_argument("--config", default=SMOKE_BASELINE)
    parser.add_argument(
        "--multigrid-config",
        default=None,
        help="config of the long + short run (default: the smoke one with the smoke baseline, "
        "else --config with both cycles on)",
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--runs", type=Path, default=Path("results/bench/speedup-runs"))
    parser.add_argument("--out", type=Path, default=Path("results/bench/speedup.json"))
    args = parser.parse_args(argv)
    multigrid = args.multigrid_config
    if multigrid is None:
        multigrid = SMOKE_MULTIGRID if args.config == SMOKE_BASELINE else ""
    configs = {"baseline": args.config, "long+short": multigrid or args.config}
    results = {}
    try:
        for name, overrides in VARIANTS.items():
            cfg = load_config(configs[name], [*args.set, "train.log_period=1", *overrides])
            clips = len(load_split(cfg, "train").records)
            shape_proxy = build_schedule(cfg, clips_per_epoch=clips).cost.speedup
            run_dir = args.runs / name.replace("+", "_")
            print(f"== training {name} in {run_dir}", file=sys.stderr, flush=True)
            train(cfg, run_dir, progress=False)
            results[name] = {**summarize(run_dir), "schedule_speedup": shape_proxy}
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    base, mg = results["baseline"], results["long+short"]
    measured = base["train_s"] / mg["train_s"]
    theoretical = base["train_gflops"] / mg["train_gflops"]
    report = {
        "config": configs["baseline"],
        "multigrid_config": configs["long+short"],
        "overrides": args.set,
        "runs": results,
        "measured_speedup": measured,
        "theoretical_speedup": theoretical,
        "schedule_speedup": mg["schedule_speedup"],
        "ratio": measured / theoretical,
    }
    atomic_write_json(args.out, report)
    for name, r in results.items():
        acc = r["metrics"].get("top1", r["metrics"].get("mAP"))
        print(
            f"{name:11s} train {r['train_s']:8.1f} s  wall {r['wall_s']:8.1f} s  "
            f"iterations {r['iterations']:6d}  {r['train_gflops']:10.1f} GFLOP  top-1 {acc:.1f}"
        )
        for grid, g in r["grids"].items():
            print(
                f"    grid {grid:8s} data wait {100 * g['data_wait_share']:5.1f} %  "
                f"{g['clips_per_s']:7.1f} clips/s"
            )
    print(
        f"measured speedup {measured:.2f}x, theoretical (FLOPs) {theoretical:.2f}x "
        f"(schedule's batch*T*S^2 estimate {mg['schedule_speedup']:.2f}x), "
        f"ratio {report['ratio']:.2f}; saved {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
