"""The public API for people's own loops, and the example that uses nothing else."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import replication.api as api


def test_every_public_name_is_importable_and_documented():
    for name in api.__all__:
        value = getattr(api, name)
        assert (value.__doc__ or "").strip(), f"replication.api.{name} has no docstring"


def test_the_api_schedule_drives_a_sampler_and_bn_switches():
    cfg = api.RunConfig(
        data=api.DataConfig(num_frames=8, train_crop_size=32, train_jitter_scales=(32, 40)),
        train=api.TrainConfig(batch_size=2),
        solver=api.SolverConfig(steps=(0, 2), max_epoch=3),
        multigrid=api.MultigridConfig(long_cycle=True, short_cycle=True, bn_base_size=2),
    )
    schedule = api.build_schedule(cfg, clips_per_epoch=64)
    first = schedule.epochs[0]
    sampler = api.ShortCycleBatchSampler(64, first.batch_sizes, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler) == api.iterations_per_epoch(64, first.batch_sizes)
    assert [len(b) for b in batches] == [first.batch_sizes[i % 3] for i in range(len(batches))]
    grids = api.train_grids(first, cfg.data.sampling_rate, cfg.data.train_jitter_scales[1])
    assert [(g.num_frames, g.crop_size) for g in grids] == list(first.shapes)
    assert first.bn.kind == "sub" and schedule.epochs[-1].bn.kind == "batch"


def test_example_trains_a_pytorchvideo_model_through_every_long_cycle_shape():
    """examples/multigrid_loop.py end to end on 32 toy videos (a subprocess: its own warnings)."""
    done = subprocess.run(
        [sys.executable, "examples/multigrid_loop.py", "--model", "slow_r50_w8",
         "--videos", "32", "--epochs", "2"],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    epochs = re.findall(r"^epoch (\d+): (\d+) iterations at (.*) \(clips", done.stdout, re.M)
    assert [int(e) for e, _, _ in epochs] == [0, 1, 2]  # 2 baseline epochs x 1.5
    assert all(int(n) > 0 for _, n, _ in epochs)  # every phase trained
    assert {g.split("x")[1] for _, _, grids in epochs for g in grids.split()} == {"2", "4", "8"}
    top1 = float(re.search(r"test top-1 ([\d.]+) %", done.stdout)[1])
    assert 0.0 <= top1 <= 100.0
