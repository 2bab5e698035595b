"""Loader benchmark: clips/s for every training grid of a schedule, cache and mp4 paths.

``python -m replication.bench.loader CONFIG [--set k=v ...]`` loads a few batches at each
distinct (grid, batch size) of the config's schedule through the real DataLoader, with the
configured (or ``--workers``) worker count, and prints and saves clips/s per grid and path.
Multigrid only pays if these numbers stay well above what the model consumes at each grid.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from replication.config import ConfigError, load_config
from replication.data.build import build_dataset
from replication.data.loader import LoaderSettings, make_loader, train_batch_sizes, train_grids
from replication.data.sampler import ClipRequest
from replication.io.atomic import atomic_write_json
from replication.schedule import build_schedule


def grid_batches(cfg) -> list[tuple]:
    """Distinct (grid, per-process batch size) pairs of the schedule, in first-use order."""
    seen: dict = {}
    jitter_max = cfg.data.train_jitter_scales[1]
    for epoch in build_schedule(cfg).epochs:
        grids = train_grids(epoch, cfg.data.sampling_rate, jitter_max)
        for pair in zip(grids, train_batch_sizes(epoch), strict=True):
            seen.setdefault(pair, None)
    return list(seen)


def measure(dataset, grid, batch_size: int, batches: int, settings: LoaderSettings) -> dict:
    """Time ``batches`` batches at one grid after one warm-up batch (worker start-up).

    Clips are drawn with replacement, so a small data set still fills the large coarse batches.
    """
    dataset.set_grids([grid])
    gen = torch.Generator().manual_seed(0)
    requests = [
        [ClipRequest(int(i), 0, int(s)) for i, s in zip(
            torch.randint(len(dataset), (batch_size,), generator=gen),
            torch.randint(2**62, (batch_size,), generator=gen), strict=True)]
        for _ in range(batches + 1)
    ]  # fmt: skip
    it = iter(make_loader(dataset, requests, settings))
    next(it)
    start = time.perf_counter()
    clips = sum(len(next(it)["index"]) for _ in range(batches))
    wall = time.perf_counter() - start
    return {"clips": clips, "wall_s": wall, "clips_per_s": clips / wall}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m replication.bench.loader", description=__doc__)
    parser.add_argument("config")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--paths", default="cache,mp4", help="comma list of: cache, mp4")
    parser.add_argument("--batches", type=int, default=10, help="timed batches per grid")
    parser.add_argument("--workers", type=int, default=None, help="override data.num_workers")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default results/bench/)")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config, args.set)
        pairs = grid_batches(cfg)
        torch.set_num_threads(max(1, (os.cpu_count() or 1)))
        workers = cfg.data.num_workers if args.workers is None else args.workers
        settings = LoaderSettings.auto(workers)
        rows = []
        for path in args.paths.split(","):
            dataset = build_dataset(cfg, "train", cache={"cache": "on", "mp4": "off"}[path])
            for grid, batch in pairs:
                result = measure(dataset, grid, batch, args.batches, settings)
                row = {"path": path, "workers": settings.num_workers, "num_frames": grid.num_frames,
                       "crop_size": grid.crop_size, "batch_size": batch, **result}  # fmt: skip
                rows.append(row)
                shape = f"T={grid.num_frames:<3d} S={grid.crop_size:<4d} batch={batch:<4d}"
                rate = f"{result['clips_per_s']:8.1f} clips/s"
                print(f"{path:5s} workers={settings.num_workers} {shape} {rate}", flush=True)
    except (ConfigError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = args.out or Path("results/bench") / f"loader-{Path(args.config).stem}.json"
    atomic_write_json(out, {"config": args.config, "overrides": args.set, "rows": rows})
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
