"""Grid resampling: shapes and value ranges for every grid, multi-view tests, SlowFast packing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from shared import K400_MG

from replication.config import load_config
from replication.data.loader import train_grids
from replication.data.transforms import (
    MEAN,
    STD,
    Grid,
    eval_views,
    render_view,
    slowfast_pathways,
    temporal_indices,
    train_view,
)
from replication.schedule import build_schedule


@pytest.fixture(scope="module")
def video() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(64, 72, 96, 3), dtype=np.uint8)  # T, H, W, C


def every_grid():
    """All grids of the K400 long+short schedule, scaled down 4x in space for speed."""
    s = build_schedule(load_config(K400_MG))
    grids = {g for e in s.epochs for g in train_grids(e, sampling_rate=2, jitter_max=320)}
    scaled = {
        Grid(g.num_frames // 4 or 1, g.crop_size // 4, g.min_rate, g.max_rate,
             g.jitter_min // 4, g.jitter_max // 4)
        for g in grids
    }  # fmt: skip
    return sorted(scaled, key=lambda g: tuple(g.__dict__.values()))


@pytest.mark.parametrize("grid", every_grid(), ids=str)
def test_train_clip_shape_and_range_on_every_grid(video, grid):
    rng = np.random.default_rng(1)
    lo = (0 - max(MEAN)) / min(STD)
    hi = (1 - min(MEAN)) / min(STD)
    for _ in range(5):
        view = train_view(72, 96, 64, grid, rng)
        steps = np.diff(view.frames)
        assert len(view.frames) == grid.num_frames
        assert all(s == steps[0] for s in steps if s) or len(steps) == 0
        if len(steps) and steps[0]:
            assert grid.min_rate <= steps[0] <= grid.max_rate
        clip = render_view(video, view, grid.crop_size)
        assert clip.shape == (3, grid.num_frames, grid.crop_size, grid.crop_size)
        assert clip.dtype == torch.float32
        assert lo - 1e-4 <= clip.min() and clip.max() <= hi + 1e-4


def test_train_views_are_random_but_seeded():
    grid = Grid(8, 32, 2, 8, 40, 80)
    a = [train_view(72, 96, 64, grid, np.random.default_rng(7)) for _ in range(2)]
    b = train_view(72, 96, 64, grid, np.random.default_rng(8))
    assert a[0] == a[1] and a[0] != b
    views = [train_view(72, 96, 64, grid, np.random.default_rng(s)) for s in range(200)]
    strides = {v.frames[1] - v.frames[0] for v in views}
    assert strides >= {2, 8} and strides <= set(range(2, 9))  # stride ~ U[2, 8]
    assert {v.flip for v in views} == {True, False}
    # The crop box scales with the random short side: S / short * 72 source pixels.
    sides = [v.height for v in views]
    assert min(sides) == pytest.approx(32 / 80 * 72, rel=0.05)
    assert max(sides) == pytest.approx(32 / 40 * 72, rel=0.05)


def test_no_flip_keeps_every_other_random_choice():
    grid = Grid(8, 32, 2, 8, 40, 80)
    for seed in range(20):
        on = train_view(72, 96, 64, grid, np.random.default_rng(seed))
        off = train_view(72, 96, 64, grid, np.random.default_rng(seed), allow_flip=False)
        assert not off.flip and dataclasses.replace(off, flip=on.flip) == on


def test_multi_view_test_sampling():
    views = eval_views(72, 96, 100, num_frames=8, stride=4, crop_size=32,
                       temporal_views=10, spatial_views=3)  # fmt: skip
    assert len(views) == 30
    starts = sorted({v.frames[0] for v in views})
    assert len(starts) == 10 and starts[0] == 0 and starts[-1] == 100 - (7 * 4 + 1)
    lefts = sorted({v.left for v in views})
    assert lefts == [0.0, 12.0, 24.0]  # left, centre, right along the long side
    assert all(v.height == 72 and not v.flip for v in views)
    assert views == eval_views(72, 96, 100, 8, 4, 32, 10, 3)  # deterministic
    (centre,) = eval_views(72, 96, 100, 8, 4, 32, 1, 1)
    assert centre.left == 12.0 and centre.frames[0] == (100 - 29) // 2


def test_short_videos_repeat_the_last_frame():
    assert temporal_indices(5, 4, 3, 0) == [0, 3, 4, 4]


def test_flip_mirrors_the_crop(video):
    grid_view = eval_views(72, 96, 64, 4, 2, 32, 1, 1)[0]
    plain = render_view(video, grid_view, 32)
    flipped = render_view(video, grid_view.__class__(**{**grid_view.__dict__, "flip": True}), 32)
    assert torch.equal(flipped, plain.flip(-1))


@pytest.mark.parametrize(("t", "slow"), [(32, 8), (8, 2), (2, 1), (1, 1)])
def test_slowfast_pathways(t, slow):
    clip = torch.arange(t, dtype=torch.float32).view(1, t, 1, 1).expand(3, t, 4, 4)
    slow_path, fast_path = slowfast_pathways(clip, alpha=4)
    assert slow_path.shape == (3, slow, 4, 4) and fast_path.shape == (3, t, 4, 4)
    assert slow_path[0, :, 0, 0].tolist() == list(range(0, t, 4))
