"""Where a multigrid run's training time goes: step time and FLOP rate per grid, data excluded.

``python -m replication.bench.steps [--config config/smoke/multigrid.yaml] [--set k=v ...]``
times a full training step (forward, loss, backward, SGD step) on random clips at every grid the
schedule uses (shape, per-process batch and BN mode) and at the baseline's grid, then weighs each
by how many iterations the schedule runs it. It prints and saves, per grid, milliseconds per step,
achieved GFLOP/s and the FLOP rate relative to the baseline grid, and the *compute-bound speedup*
those rates predict. Theory assumes every grid runs at the same FLOP rate; when the measured
speedup falls short, this table says which grids are slow per FLOP (small clips and large batches
tend to be, on a CPU: less work per kernel call, more memory traffic per FLOP).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import torch

from replication.config import ConfigError, RunConfig, load_config
from replication.data.build import load_split
from replication.engine.network import Network, build_network, clip_gflops
from replication.io.atomic import atomic_write_json
from replication.model import model_input_example, set_bn_mode
from replication.schedule import BNMode, build_schedule, clips_per_process, iterations_per_epoch

GridKey = tuple[int, int, int, BNMode]  # (T, S, per-process batch, BN mode)


def grid_iterations(cfg: RunConfig, clips_per_epoch: int) -> Counter[GridKey]:
    """Iterations the schedule runs at each grid (one process; short-cycle grids cycle)."""
    counts: Counter[GridKey] = Counter()
    for plan in build_schedule(cfg, clips_per_epoch).epochs:
        sizes, shapes = plan.batch_sizes, plan.shapes
        n = iterations_per_epoch(clips_per_process(clips_per_epoch, cfg.train.num_gpus), sizes)
        for i in range(n):
            g = i % len(sizes)
            counts[(*shapes[g], sizes[g], plan.bn)] += 1
    return counts


def time_step(net: Network, key: GridKey, optimizer, repeats: int, warmup: int) -> float:
    """Median seconds of one training step at ``key`` on random clips."""
    t, s, batch, bn = key
    set_bn_mode(net.model, bn, world_size=1)
    net.bn_mode = bn
    net.rewrap()
    example = {
        "video": model_input_example(net.backbone, batch, t, s),
        "label": torch.randint(0, net.backbone.num_classes, (batch,)),
        "grid": torch.zeros(batch, dtype=torch.long),
    }
    times = []
    for i in range(warmup + repeats):
        if net.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        net.step(example, optimizer)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def time_grids(
    net: Network, runs: dict[str, Counter[GridKey]], optimizer, repeats: int, warmup: int
) -> list[dict]:
    """A row per grid either run uses: step time, FLOPs and iterations per run, printed too."""
    keys = sorted(set(runs["multigrid"]) | set(runs["baseline"]), key=lambda k: k[:3])
    rows = []
    for key in keys:
        t, s, batch, bn = key
        seconds = time_step(net, key, optimizer, repeats, warmup)
        gflop = 3 * batch * clip_gflops(net, (t, s))  # forward + backward ~ 3x forward
        rows.append(
            {
                "num_frames": t,
                "crop_size": s,
                "batch_size": batch,
                "bn": f"{bn.kind}x{bn.splits}",
                "step_ms": 1000 * seconds,
                "gflop_per_step": gflop,
                "gflops_per_s": gflop / seconds,
                "iterations": {name: count[key] for name, count in runs.items()},
            }
        )
        print(
            f"T{t:<3d} S{s:<4d} batch {batch:4d} {rows[-1]['bn']:8s} {1000 * seconds:9.1f} ms"
            f"  {gflop:8.2f} GFLOP  {gflop / seconds:7.1f} GFLOP/s  iterations "
            + "  ".join(f"{n} {c[key]}" for n, c in runs.items()),
            flush=True,
        )
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m replication.bench.steps", description=__doc__)
    parser.add_argument("--config", default="config/smoke/multigrid.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--clips", type=int, default=0, help="clips per epoch; 0 reads the data")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0 keeps torch's")
    parser.add_argument("--out", type=Path, default=Path("results/bench/steps.json"))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        cfg = load_config(args.config, args.set)
        base = load_config(
            args.config, [*args.set, "multigrid.long_cycle=false", "multigrid.short_cycle=false"]
        )
        clips = args.clips or len(load_split(cfg, "train").records)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    classes = cfg.model.num_classes or 8
    net = build_network(cfg, classes, False, device)
    optimizer = torch.optim.SGD(net.model.parameters(), lr=1e-3, momentum=0.9)

    runs = {"multigrid": grid_iterations(cfg, clips), "baseline": grid_iterations(base, clips)}
    rows = time_grids(net, runs, optimizer, args.repeats, args.warmup)
    time_of = {
        name: sum(r["step_ms"] * r["iterations"][name] for r in rows) / 1000 for name in runs
    }
    flops_of = {
        name: sum(r["gflop_per_step"] * r["iterations"][name] for r in rows) for name in runs
    }
    base_rate = flops_of["baseline"] / time_of["baseline"]
    for r in rows:
        r["rate_vs_baseline"] = r["gflops_per_s"] / base_rate
    report = {
        "config": args.config,
        "overrides": args.set,
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "grids": rows,
        "compute_s": time_of,
        "gflop": flops_of,
        "flop_speedup": flops_of["baseline"] / flops_of["multigrid"],
        "compute_bound_speedup": time_of["baseline"] / time_of["multigrid"],
    }
    atomic_write_json(args.out, report)
    print(
        f"compute only: baseline {time_of['baseline']:.1f} s, multigrid {time_of['multigrid']:.1f}"
        f" s; FLOP speedup {report['flop_speedup']:.2f}x, compute-bound speedup "
        f"{report['compute_bound_speedup']:.2f}x "
        f"(ratio {report['compute_bound_speedup'] / report['flop_speedup']:.2f}); saved {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
