"""Clip data set + loader end to end on real mp4 files, 5 % of them bad in every way."""

from __future__ import annotations

import csv

import pytest
import torch
from shared import TEST_MULTIGRID
from videos import make_dataset

from replication.config import load_config
from replication.data.build import build_dataset
from replication.data.dataset import BadVideoManifest
from replication.data.loader import LoaderSettings, build_eval_loader, make_loader
from replication.data.sampler import ShortCycleBatchSampler
from replication.data.transforms import Grid

# The kinds the loader must survive; 6 bad files among 120 is 5 %.
KINDS = ("corrupt", "corrupt_mid", "truncated", "empty", "missing", "audio_only")


@pytest.fixture(scope="module")
def bad_dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    csv_path, good, bad = make_dataset(root, n_good=114, bad_kinds=KINDS, num_classes=3)
    return csv_path, good, bad


def cfg_for(csv_path, tmp_path, cache):
    overrides = [
        f"data.train_annotations={csv_path}",
        f"data.val_annotations={csv_path}",
        f"data.cache={cache}",
        f"data.cache_dir={tmp_path / 'cache'}",
        "data.num_frames=4",
        "data.test_crop_size=32",
    ]
    return load_config(TEST_MULTIGRID, overrides)


@pytest.mark.parametrize(("cache", "workers"), [("off", 0), ("on", 0), ("on", 1)])
def test_epoch_completes_and_manifest_lists_exactly_the_bad_files(
    bad_dataset, tmp_path, cache, workers
):
    csv_path, _, bad = bad_dataset
    cfg = cfg_for(csv_path, tmp_path, cache)
    dataset = build_dataset(cfg, "train", progress=False)
    assert len(dataset) == 120
    grids = [Grid(4, 16, 1, 3, 18, 24), Grid(4, 24, 1, 3, 24, 28), Grid(4, 32, 1, 3, 32, 36)]
    dataset.set_grids(grids)
    sampler = ShortCycleBatchSampler(len(dataset), [12, 6, 6], seed=0)  # 120 = 5 cycles exactly
    loader = make_loader(dataset, sampler, LoaderSettings(num_workers=workers, pin_memory=False))
    manifest = BadVideoManifest(tmp_path / "run" / "bad_videos.csv")
    batches = 0
    for step, batch in enumerate(loader):
        grid = grids[step % 3]
        assert batch["video"].shape[1:] == (3, 4, grid.crop_size, grid.crop_size)
        assert torch.isfinite(batch["video"]).all() and batch["valid"].all()
        manifest.update(batch["bad"])
        batches += 1
    assert batches == len(sampler) == 15
    bad_paths = {str(p) for p in bad.values()}
    with open(manifest.path) as f:
        rows = list(csv.DictReader(f))
    assert {r["path"] for r in rows} == bad_paths  # every bad file, and only those
    assert all(r["reason"] and int(r["failures"]) >= 1 for r in rows)
    assert not list(manifest.path.parent.glob(".*tmp"))


def test_eval_marks_bad_videos_invalid(bad_dataset, tmp_path):
    csv_path, _, _ = bad_dataset
    cfg = cfg_for(csv_path, tmp_path, "on")
    dataset = build_dataset(cfg, "val", views=(2, 1), progress=False)
    assert len(dataset) == 120 * 2
    loader = build_eval_loader(dataset, 30, LoaderSettings(num_workers=0, pin_memory=False))
    valid, invalid = set(), set()
    for batch in loader:
        assert batch["video"].shape[1:] == (3, 4, 32, 32)
        for index, ok in zip(batch["index"].tolist(), batch["valid"].tolist(), strict=True):
            (valid if ok else invalid).add(index)
    assert len(invalid) == len(KINDS) and len(valid) == 114


def test_train_item_gives_up_after_bounded_retries(tmp_path):
    csv_path, _, _ = make_dataset(tmp_path, n_good=0, bad_kinds=("empty", "missing"))
    cfg = cfg_for(csv_path, tmp_path, "off")
    dataset = build_dataset(cfg, "train", progress=False)
    dataset.set_grids([Grid(4, 16, 1, 1, 16, 16)])
    from replication.data.sampler import ClipRequest

    with pytest.raises(RuntimeError, match=r"11 videos in a row could not be decoded"):
        dataset[ClipRequest(0, 0, 1)]


def test_same_request_same_clip(bad_dataset, tmp_path):
    csv_path, _, _ = bad_dataset
    dataset = build_dataset(cfg_for(csv_path, tmp_path, "on"), "train", progress=False)
    dataset.set_grids([Grid(4, 24, 1, 3, 24, 32)])
    from replication.data.sampler import ClipRequest

    a, b = dataset[ClipRequest(3, 0, 99)], dataset[ClipRequest(3, 0, 99)]
    c = dataset[ClipRequest(3, 0, 100)]
    assert torch.equal(a["video"], b["video"]) and not torch.equal(a["video"], c["video"])
