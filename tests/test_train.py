"""The training loop end to end on tiny models and real mp4 files (CPU, seconds per run)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import ROOT

from replication.config import load_config
from replication.data.video_io import write_video
from replication.engine.loop import train
from replication.io import events as ev
from replication.schedule import build_schedule

CLASSES, TRAIN_PER_CLASS, VAL_PER_CLASS = 4, 18, 3


def easy_clip(label: int, rng: np.random.Generator) -> np.ndarray:
    """A clip whose class is its colour: learnable in a few steps, so a falling loss is a fair
    test that gradients flow on every grid (the synthetic data set is for real experiments)."""
    colour = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200], [200, 200, 40]])[label]
    noise = rng.normal(0, 25, size=(16, 32, 32, 3))
    return np.clip(colour + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """72 training and 12 validation videos (16 frames, 32 px), four colour classes."""
    root = tmp_path_factory.mktemp("synthetic")
    for split, n in (("train", TRAIN_PER_CLASS), ("val", VAL_PER_CLASS)):
        rows = []
        for c in range(CLASSES):
            for k in range(n):
                rng = np.random.default_rng([c, k, split == "train"])
                path = root / split / f"{c}_{k}.mp4"
                write_video(path, easy_clip(c, rng), fps=8)
                rows.append((str(path), c))
        with open(root / f"{split}.csv", "w", newline="") as f:
            csv.writer(f).writerows([("path", "label"), *rows])
    return root


def tiny_config(data, tmp_path, *extra):
    overrides = [
        f"data.train_annotations={data / 'train.csv'}",
        f"data.val_annotations={data / 'val.csv'}",
        f"data.cache_dir={tmp_path / 'cache'}",
        "data.cache=on",
        "data.num_workers=0",
        "data.num_frames=4",
        "data.sampling_rate=2",
        "data.train_crop_size=32",
        "data.test_crop_size=32",
        "data.train_jitter_scales=[32,36]",
        "model.arch=slow",
        "model.depth=18",
        "model.width=8",
        "model.dropout=0.0",
        "train.batch_size=2",
        "train.log_period=1",
        "train.precise_bn_batches=2",
        "train.deterministic=true",
        "solver.base_lr=0.01",
        "solver.warmup_epochs=0",
        "solver.steps=[0,2]",
        "solver.lrs=[1,0.1]",
        "solver.max_epoch=3",
        "multigrid.long_cycle=true",
        "multigrid.short_cycle=true",
        "multigrid.bn_base_size=2",
        "test.num_ensemble_views=2",
        "test.num_spatial_crops=1",
        "test.batch_size=6",
        *extra,
    ]
    return load_config(ROOT / "config/smoke/multigrid.yaml", overrides)


# (arch, depth, base LR): the depth-50 R(2+1)D diverges at the others' LR with 2-clip BN groups.
ARCHS = [
    ("slow", 18, 0.01), ("i3d", 18, 0.01), ("slowfast", 18, 0.01), ("x3d", 11, 0.01),
    ("r2plus1d", 50, 0.002), ("csn", 50, 0.01),
]  # fmt: skip


@pytest.mark.parametrize(("arch", "depth", "lr"), ARCHS, ids=[a[0] for a in ARCHS])
def test_every_family_trains_through_every_shape_and_grid(tiny_data, tmp_path, arch, depth, lr):
    longer = ("solver.steps=[0,4]", "solver.max_epoch=6", f"solver.base_lr={lr}")
    cfg = tiny_config(tiny_data, tmp_path, f"model.arch={arch}", f"model.depth={depth}", *longer)
    summary = train(cfg, tmp_path / "run", progress=False)
    log = ev.read_events(tmp_path / "run" / "events.jsonl")
    schedule = build_schedule(cfg)
    shapes = {
        (p.num_frames, p.crop_size) for p in schedule.long_cycle if p.end_epoch > p.start_epoch
    }
    phases = [e for e in log if e["event"] == ev.PHASE]
    assert {(e["num_frames"], e["crop_size"]) for e in phases} == shapes
    steps = [e for e in log if e["event"] == ev.TRAIN]
    assert {e["grid"] for e in steps} == {0, 1, 2}  # every short-cycle grid ran
    assert {(e["num_frames"], e["crop_size"]) for e in steps} >= {(4, 16), (4, 32), (1, 16)}
    losses = [e["loss"] for e in log if e["event"] == ev.EPOCH]
    # It learns: epochs run on different grids, so compare the later half's best with the start.
    assert min(losses[len(losses) // 2 :]) < losses[0], losses
    assert summary["metrics"]["videos"] == CLASSES * VAL_PER_CLASS
    assert summary["train_gflops"] > 0


def test_event_log_has_every_event_in_order(tiny_data, tmp_path):
    train(tiny_config(tiny_data, tmp_path), tmp_path / "run", progress=False)
    log = ev.read_events(tmp_path / "run" / "events.jsonl")
    names = [e["event"] for e in log]
    assert names[0] == ev.RUN_START and names[1] == ev.PHASE and names[-1] == ev.RUN_END
    assert set(names) == set(ev.REQUIRED)
    for e in log:
        assert ev.REQUIRED[e["event"]] <= e.keys()
    start = log[0]
    assert start["config"]["model"]["arch"] == "slow" and start["versions"]["torch"]
    epochs = [e["epoch"] for e in log if e["event"] == ev.EPOCH]
    assert epochs == list(range(build_schedule(tiny_config(tiny_data, tmp_path)).max_epoch))


def test_interrupted_run_resumes_to_identical_results(tiny_data, tmp_path):
    cfg = tiny_config(tiny_data, tmp_path)
    reference = train(cfg, tmp_path / "a", progress=False)
    for stop_at in (3, 9):  # mid-epoch in the first phase, then later in another phase
        calls = iter(range(10**6))

        def stop(calls=calls, n=stop_at) -> bool:
            return next(calls) == n

        assert train(cfg, tmp_path / "b", should_stop=stop, progress=False) is None
    resumed = train(cfg, tmp_path / "b", progress=False)
    assert resumed["metrics"] == reference["metrics"]
    assert resumed["steps"] == reference["steps"]
    log = ev.read_events(tmp_path / "b" / "events.jsonl")
    epochs = [e["epoch"] for e in log if e["event"] == ev.EPOCH]
    assert epochs == sorted(set(epochs)) == list(range(len(epochs)))  # none missing, none twice
    starts = [e for e in log if e["event"] == ev.RUN_START]
    assert [s["resumed"] for s in starts] == [False, True, True]  # each restart is visible
    assert all("_iter" in s["resumed_from"] for s in starts[1:])  # from where it stopped
    steps = [e["step"] for e in log if e["event"] == ev.TRAIN]
    assert steps == sorted(set(steps))
    reference_log = ev.read_events(tmp_path / "a" / "events.jsonl")
    per_epoch = [[(e["loss"], e["clips"]) for e in events if e["event"] == ev.EPOCH]
                 for events in (log, reference_log)]  # fmt: skip
    assert per_epoch[0] == per_epoch[1]  # an interrupted epoch still reports all its iterations


def test_finished_run_is_not_trained_again(tiny_data, tmp_path):
    cfg = tiny_config(tiny_data, tmp_path)
    first = train(cfg, tmp_path / "run", progress=False)
    size = (tmp_path / "run" / "events.jsonl").stat().st_size
    assert train(cfg, tmp_path / "run", progress=False) == json.loads(
        (tmp_path / "run" / "summary.json").read_text()
    ) == first  # fmt: skip
    assert (tmp_path / "run" / "events.jsonl").stat().st_size == size
