"""Fixtures the test modules share; session-scoped where the data is expensive to make.

Constants and helpers (paths, tiny backbones, the SLURM probe) are in ``shared.py``, video
writers in ``videos.py``; no test module imports another.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from shared import (
    CLASSES,
    ROOT,
    RUNS,
    TEST_MULTIGRID,
    TRAIN_PER_CLASS,
    VAL_PER_CLASS,
)

from replication.config import RunConfig, load_config
from replication.data.video_io import write_video


@pytest.fixture
def write_yaml(tmp_path: Path) -> Callable[..., Path]:
    """Write a YAML text to a fresh file and return its path."""

    def write(text: str, name: str = "exp.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def _easy_clip(label: int, rng: np.random.Generator) -> np.ndarray:
    """A clip whose class is its colour: learnable in a few steps, so a falling loss is a fair
    test that gradients flow on every grid (the synthetic data set is for real experiments)."""
    colour = np.array([[200, 40, 40], [40, 200, 40], [40, 40, 200], [200, 200, 40]])[label]
    noise = rng.normal(0, 25, size=(16, 32, 32, 3))
    return np.clip(colour + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def tiny_videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """72 training and 12 validation videos (16 frames, 32 px), four colour classes, once."""
    root = tmp_path_factory.mktemp("tiny_videos")
    for split, n in (("train", TRAIN_PER_CLASS), ("val", VAL_PER_CLASS)):
        rows = []
        for c in range(CLASSES):
            for k in range(n):
                rng = np.random.default_rng([c, k, split == "train"])
                path = root / split / f"{c}_{k}.mp4"
                write_video(path, _easy_clip(c, rng), fps=8)
                rows.append((str(path), c))
        with open(root / f"{split}.csv", "w", newline="") as f:
            csv.writer(f).writerows([("path", "label"), *rows])
    return root


TINY_TRAINING = (
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
)


@pytest.fixture(scope="session")
def tiny_config(tiny_videos: Path) -> Callable[..., RunConfig]:
    """``tiny_config(*overrides)``: a seconds-long long + short training config.

    The frozen smoke multigrid config on the tiny videos, a Slow R18 of width 8, 3 epochs. Every
    test shares one frame cache (decoded once; its key is the videos and their sizes, so a
    changed video set gets a cache of its own, and writes are atomic, so parallel jobs may build
    it side by side).
    """

    def make(*extra: str) -> RunConfig:
        overrides = [
            f"data.train_annotations={tiny_videos / 'train.csv'}",
            f"data.val_annotations={tiny_videos / 'val.csv'}",
            f"data.cache_dir={tiny_videos / 'frame_cache'}",
            *TINY_TRAINING,
            *extra,
        ]
        return load_config(TEST_MULTIGRID, overrides)

    return make


@pytest.fixture
def fixture_runs_copy(tmp_path: Path) -> Path:
    """A writable copy of the fixture plan's committed runs (for tests that damage logs)."""
    target = tmp_path / "runs"
    shutil.copytree(RUNS, target)
    return target


# A partition like the local test cluster's, but of 1 core and 1 GiB: profiles written from it
# ask for no memory and overcommit the core, so they fit any real 'local' partition too.
SMALL_LOCAL_SINFO = "vm|1|1024|(null)|local*\n", "local*|infinite\n"


@pytest.fixture
def paper_workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory, made the current one, where the paper plan is ready to plan: the
    repository's ``config/``, empty stand-ins for every annotation file and video folder it
    names, and SLURM profiles written by the profile writer for the runs' process counts."""
    from replication.cluster.site_profile import profile_for, read_partition, render_profile
    from replication.workflow import read_plan

    (tmp_path / "config").symlink_to(ROOT / "config")
    monkeypatch.chdir(tmp_path)
    plan = read_plan("config/config.yaml", "config/paper.yaml")
    for data in plan.datasets.values():
        if data.generate is None:
            for name in (data.train_annotations, data.val_annotations):
                (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
                (tmp_path / name).write_text("")
            (tmp_path / data.video_root).mkdir(parents=True, exist_ok=True)
    part = read_partition("", *SMALL_LOCAL_SINFO)
    for name, processes in (("default.yaml", 8), ("one-gpu.yaml", 1)):
        path = tmp_path / "slurm" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(render_profile(profile_for(part, processes, True), part, processes))
    return tmp_path


@pytest.fixture
def one_thread_seeded():
    """Model tests on one torch thread with seed 0 (fixed arithmetic order), threads restored."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)
