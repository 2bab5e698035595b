"""Loader cost per grid on Kinetics-sized videos: clips/s per CPU core, stage by stage.

``python -m replication.bench.decode --videos data/kinetics_like`` (videos from
``python -m replication.data.synthetic.kinetics``; the store mode reads the copies of
``python -m replication.data.copies``) makes clips at every grid of the K400 SlowFast 8x8
multigrid schedule through the real ``ClipDataset`` in this process, one worker's work, and
counts CPU seconds (``time.process_time``: every thread of the process, so other jobs on the
machine do not inflate it) per stage: open and seek, H.264 decode, colour conversion and
scaling, resampling (view, crop, resize, flip, normalise, SlowFast pathways), collate, and
host-to-GPU transfer (zero without a GPU). Wall-clock clips/s are kept beside them.

Modes: ``before`` decodes and converts the whole video for every clip (the path before
sparse decoding); ``sparse`` decodes from the keyframe before the clip to its last frame and
converts only the kept frames; ``scaled`` also scales in the decoder to the grid's
``jitter_min``; ``store`` reads the multi-resolution store's copy where the grid allows it
(:mod:`replication.data.copies`); ``ffmpeg_threads`` is ``sparse`` with FFmpeg's own threads.

Demand: a GPU at a sustained ``--gpu-tflops`` (an estimate: nothing here ran on a GPU) trains
``tflops / (3 x forward GFLOPs per clip)`` clips/s at a grid (FLOPs counted by fvcore on the
config's model); the cores one GPU needs for a data wait under 5 % are ``0.95 x demand /
clips/s per core`` (with prefetching, the wait share is ``1 - capacity / demand``).
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from replication.bench.loader import grid_batches
from replication.config import load_config
from replication.data.annotations import load_table
from replication.data.copies import VideoCopies
from replication.data.dataset import ClipDataset, collate_clips
from replication.data.frames import DecodedFrames
from replication.data.sampler import ClipRequest
from replication.engine.network import build_network, clip_gflops
from replication.io.atomic import atomic_write_text

STAGES = ("open", "decode", "convert", "resample", "collate", "transfer")
MODES = ("before", "sparse", "ffmpeg_threads", "scaled", "store")
NODE = (8, 10, 16)  # a typical node: 8 GPUs, 10-16 cores per GPU


def make_source(mode: str, records, annotations: Path) -> DecodedFrames:
    """The frame source of ``mode`` (see the module docstring); frames at most 320 px short."""
    copies = None
    if mode == "scaled":
        copies = VideoCopies({}, decoder_scale=True)
    elif mode == "store":
        copies = VideoCopies.find(annotations)
        if not copies.copies:
            raise ValueError(f"{annotations.parent}: no copies; run python -m "
                             f"replication.data.copies {annotations}")  # fmt: skip
    return DecodedFrames(records, 320, sparse=mode != "before",
                         threads=0 if mode == "ffmpeg_threads" else 1, copies=copies)  # fmt: skip


def measure_grid(dataset: ClipDataset, source: DecodedFrames, grid, clips: int, seed: int) -> dict:
    """CPU seconds per stage and wall seconds for ``clips`` clips at ``grid``."""
    dataset.set_grids([grid])
    rng = np.random.default_rng(seed)
    stats = dict.fromkeys(STAGES, 0.0)
    source.stats = stats
    items, item_cpu, wall = [], 0.0, time.perf_counter()
    for _ in range(clips):
        request = ClipRequest(int(rng.integers(len(dataset))), 0, int(rng.integers(2**62)))
        start = time.process_time()
        items.append(dataset[request])
        item_cpu += time.process_time() - start
    stats["resample"] = item_cpu - stats["open"] - stats["decode"] - stats["convert"]
    start = time.process_time()
    batch = collate_clips(items)
    stats["collate"] = time.process_time() - start
    if torch.cuda.is_available():
        start = time.process_time()
        for x in batch["video"]:
            x.pin_memory().to("cuda", non_blocking=True)
        torch.cuda.synchronize()
        stats["transfer"] = time.process_time() - start
    wall = time.perf_counter() - wall
    source.stats = None
    cpu = sum(stats.values())
    return {"clips": clips, "cpu_ms_per_clip": 1000 * cpu / clips,
            "clips_per_core_s": clips / cpu, "wall_clips_per_s": clips / wall,
            "decode_work_ms": 1000 * (stats["open"] + stats["decode"] + stats["convert"]) / clips,
            **{f"share_{k}": v / cpu for k, v in stats.items()}}  # fmt: skip


def run(args: argparse.Namespace) -> list[dict]:
    """Every mode at every grid; rows as written to the CSV."""
    cfg = load_config(args.config, args.set)
    annotations = args.videos / "train.csv"
    table = load_table(annotations)
    net = build_network(cfg, 400, False, torch.device("cpu"))
    pairs = grid_batches(cfg)
    gflops = {(g.num_frames, g.crop_size): clip_gflops(net, (g.num_frames, g.crop_size))
              for g, _ in pairs}  # fmt: skip
    del net
    rows = []
    for mode in args.modes.split(","):
        source = make_source(mode, table.records, annotations)
        labels = [r.labels for r in table.records]
        dataset = ClipDataset(source, labels, 400, grids=[pairs[0][0]],
                              slowfast_alpha=cfg.model.slowfast_alpha)  # fmt: skip
        for n, (grid, batch) in enumerate(pairs):
            result = measure_grid(dataset, source, grid, args.clips, args.seed + n)
            flops = gflops[(grid.num_frames, grid.crop_size)]
            demand = args.gpu_tflops * 1000 / (3 * flops)
            rows.append({"mode": mode, "num_frames": grid.num_frames, "crop_size": grid.crop_size,
                         "stride": f"{grid.min_rate}-{grid.max_rate}",
                         "jitter_min": grid.jitter_min, "batch_size": batch, **result,
                         "gflops_per_clip": flops, "gpu_clips_per_s": demand,
                         "cores_per_gpu": 0.95 * demand / result["clips_per_core_s"]})  # fmt: skip
            r = rows[-1]
            print(f"{mode:14s} T{grid.num_frames:<3d} S{grid.crop_size:<4d} "
                  f"{r['clips_per_core_s']:7.1f} clips/s/core  decode "
                  f"{r['decode_work_ms']:6.1f} ms  GPU {demand:7.0f} clips/s  cores/GPU "
                  f"{r['cores_per_gpu']:6.1f}", flush=True)  # fmt: skip
    return rows


def markdown(rows: list[dict], args: argparse.Namespace) -> str:
    """The table, per mode and grid, plus the coarsest-to-base decode-work ratio per mode."""
    head = ("| mode | TxS | stride | clips/s per core | wall clips/s | decode work ms/clip | "
            + " | ".join(f"{s} %" for s in STAGES)
            + " | GPU clips/s (est.) | cores per GPU |")  # fmt: skip
    lines = [head, "|:--|--:|--:|--:|--:|--:|" + "--:|" * len(STAGES) + "--:|--:|"]
    for r in rows:
        shares = " | ".join(f"{100 * r[f'share_{s}']:.0f}" for s in STAGES)
        lines.append(f"| {r['mode']} | {r['num_frames']}x{r['crop_size']} | {r['stride']} | "
                     f"{r['clips_per_core_s']:.1f} | {r['wall_clips_per_s']:.1f} | "
                     f"{r['decode_work_ms']:.1f} | {shares} | {r['gpu_clips_per_s']:.0f} | "
                     f"{r['cores_per_gpu']:.1f} |")  # fmt: skip
    ratios = []
    for mode in dict.fromkeys(r["mode"] for r in rows):
        mine = [r for r in rows if r["mode"] == mode]
        cost = {(r["num_frames"], r["crop_size"]): r["decode_work_ms"] for r in mine}
        coarse = min(cost, key=lambda k: k[0] * k[1] ** 2)
        base = max(cost, key=lambda k: k[0] * k[1] ** 2)
        ratios.append(f"{mode} {cost[coarse] / cost[base]:.2f}")
    note = (f"\nCPU time (time.process_time, one process, {args.clips} clips per grid and mode) "
            f"on {args.videos}; GPU demand is an estimate at {args.gpu_tflops:g} TFLOP/s "
            f"sustained. Decode work (open + decode + convert) at the coarsest grid over the "
            f"base grid's, per clip: {', '.join(ratios)}.\n")  # fmt: skip
    return "\n".join(lines) + "\n" + note


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m replication.bench.decode", description=__doc__)
    parser.add_argument("--videos", type=Path, default=Path("data/kinetics_like"))
    parser.add_argument("--config", default="config/kinetics/slowfast_8x8_r50_multigrid.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--clips", type=int, default=48, help="clips per grid and mode")
    parser.add_argument("--gpu-tflops", type=float, default=30.0, help="sustained, estimated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("tables/bench/loader_kinetics"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    try:
        rows = run(args)
    except (ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out.with_suffix(".csv.tmp"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}
                         for r in rows)  # fmt: skip
    args.out.with_suffix(".csv.tmp").replace(args.out.with_suffix(".csv"))
    atomic_write_text(args.out.with_suffix(".md"), markdown(rows, args))
    figure = Path(str(args.out).replace("tables/", "figures/", 1)).with_suffix(".png")
    plot_capacity(rows, figure)
    print(f"saved {args.out.with_suffix('.csv')}, .md and {figure}")
    return 0


def plot_capacity(rows: list[dict], path: Path) -> None:
    """Cores one GPU needs per grid and mode, against a node's 10-16 cores per GPU."""
    import pandas as pd

    from replication.results.plots import plot_loader_capacity

    frame = pd.DataFrame(rows)
    frame["grid"] = frame["num_frames"].astype(str) + "x" + frame["crop_size"].astype(str)
    ax = plot_loader_capacity(frame, cores=NODE[1:])
    ax.set_title("Cores per GPU for a data wait under 5 % (estimated GPU demand)")
    path.parent.mkdir(parents=True, exist_ok=True)
    ax.figure.savefig(path, dpi=120, bbox_inches="tight")


if __name__ == "__main__":
    sys.exit(main())
