"""Training reads the multi-resolution store (``data.copies``); evaluation reads the originals."""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
from shared import TEST_MULTIGRID
from videos import smooth_frames

from replication.config import load_config
from replication.data import copies
from replication.data.build import build_dataset
from replication.data.copies import write_copies
from replication.data.dataset import ClipDataset
from replication.data.frames import DecodedFrames
from replication.data.sampler import ClipRequest
from replication.data.transforms import STD, Grid
from replication.data.video_io import COPY_ENCODING, write_video

COPY_SIDE = 32
COARSE = Grid(4, 16, 2, 2, COPY_SIDE, 48)  # jitter_min 32: the 32-px copy holds its widest view
BASE = Grid(4, 32, 2, 2, 64, 96)  # jitter_min 64: only the original serves it


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """Two 96x96 grey videos, their annotations and a copy of both at short side 32."""
    root = tmp_path_factory.mktemp("store")
    lines = ["path,label"]
    for i in range(2):
        grey = smooth_frames(i, 24, size=96).mean(axis=-1, keepdims=True).astype(np.uint8)
        write_video(root / "videos" / f"v{i}.mp4", np.repeat(grey, 3, axis=-1), fps=25, crf=23,
                    keyint=10)  # fmt: skip
        lines.append(f"videos/v{i}.mp4,{i}")
    (root / "train.csv").write_text("\n".join(lines) + "\n")
    (root / "val.csv").write_text("\n".join(lines) + "\n")
    write_copies(sorted((root / "videos").glob("*.mp4")), root, COPY_SIDE)
    return root


def _config(root: Path, *extra: str):
    return load_config(TEST_MULTIGRID, [
        f"data.train_annotations={root / 'train.csv'}", f"data.val_annotations={root / 'val.csv'}",
        "data.cache=off", "data.train_jitter_scales=[64, 96]", "data.test_crop_size=64", *extra,
    ])  # fmt: skip


def _train_set(cfg):
    dataset = build_dataset(cfg, "train", progress=False)
    dataset.set_grids([COARSE, BASE])
    return dataset


def test_coarse_grid_reads_the_copy_and_matches_the_original(store):
    """The copy's clip against the clip cut from the original scaled by FFmpeg to the copy's
    size stays within the store's own bound (test_data_sparse: 4 grey levels on average); from
    the full-size original, clips differ by that plus what cutting a 10-16 px box out of
    32-px frames costs whatever file they come from (measured 4.4-11.5 grey levels)."""
    cfg = _config(store, f"data.copies=[{COPY_SIDE}]")
    with_copies, originals = _train_set(cfg), _train_set(_config(store))
    at_copy_size = ClipDataset(DecodedFrames(originals.source.records, short_side=COPY_SIDE),
                               originals.labels, 2, grids=[COARSE, BASE],
                               random_flip=cfg.data.random_flip)  # fmt: skip
    for index in range(2):
        assert with_copies.source.frames(index, COARSE).path.parent.parent.name == "short32"
        request = ClipRequest(index, 0, 7 + index)
        ours, full, scaled = (d[request]["video"].numpy() for d in (with_copies, originals,
                                                                    at_copy_size))  # fmt: skip
        assert ours.shape == full.shape == scaled.shape
        assert _grey_levels(ours, scaled) < 4.0
        assert _grey_levels(ours, full) < _grey_levels(scaled, full) + 4.0


def _grey_levels(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two normalised clips, in 8-bit grey levels."""
    return float(np.abs(a - b).mean() * STD[0] * 255)


def test_base_grid_and_evaluation_read_the_originals(store):
    cfg = _config(store, f"data.copies=[{COPY_SIDE}]")
    train = _train_set(cfg)
    assert train.source.frames(0, BASE).path == store / "videos" / "v0.mp4"
    originals = _train_set(_config(store))
    request = ClipRequest(1, 1, 3)
    assert np.array_equal(train[request]["video"].numpy(), originals[request]["video"].numpy())
    val = build_dataset(cfg, "val", progress=False)
    assert isinstance(val.source, DecodedFrames) and val.source.copies is None


def test_a_missing_copy_is_one_line_naming_it(store, tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        build_dataset(_config(store, "data.copies=[48]"), "train", progress=False)
    message = str(err.value)
    assert "\n" not in message and str(store / "short48") in message
    assert f"python -m replication.data.copies {store / 'train.csv'} --short-side 48" in message
    # A video the manifest does not list (added after the copies were written) is named.
    (tmp_path / "videos").mkdir()
    for name in ("v0.mp4", "v1.mp4", "v2.mp4"):
        shutil.copy(store / "videos" / "v0.mp4", tmp_path / "videos" / name)
    write_copies([tmp_path / "videos" / "v0.mp4"], tmp_path, COPY_SIDE)
    rows = "".join(f"videos/v{i}.mp4,0\n" for i in range(3))
    (tmp_path / "train.csv").write_text("path,label\n" + rows)
    (tmp_path / "val.csv").write_text("path,label\n" + rows)
    with pytest.raises(FileNotFoundError, match=r"v1\.mp4: no copy in .*short32 \(data\.copies\)"):
        build_dataset(_config(tmp_path, f"data.copies=[{COPY_SIDE}]"), "train", progress=False)


def test_a_copy_older_than_its_original_is_written_again(tmp_path):
    """A regenerated data set gets new copies; an unchanged one keeps its own (same bytes)."""
    video = tmp_path / "videos" / "v.mp4"
    frames = smooth_frames(0, 8, size=64)
    write_video(video, frames, fps=25, keyint=4)
    write_copies([video], tmp_path, COPY_SIDE)
    copy = tmp_path / f"short{COPY_SIDE}" / "videos" / "v.mp4"
    first = copy.read_bytes()
    os.utime(copy, (1, 1))  # older than the original from here on
    write_video(video, frames[::-1].copy(), fps=25, keyint=4)
    write_copies([video], tmp_path, COPY_SIDE)
    assert copy.stat().st_mtime > video.stat().st_mtime - 1 and copy.read_bytes() != first
    before = copy.stat().st_mtime_ns
    write_copies([video], tmp_path, COPY_SIDE)
    assert copy.stat().st_mtime_ns == before


def test_copies_of_another_encoding_are_written_again(tmp_path, monkeypatch):
    """A store written by an older version (its manifest names another encoding, or none) is
    rewritten with the current one; the manifest then records it and the copies stay."""
    video = tmp_path / "videos" / "v.mp4"
    write_video(video, smooth_frames(0, 8, size=64), fps=25, keyint=4)
    older = replace(COPY_ENCODING, keyint_s=2.0)
    monkeypatch.setattr(copies, "COPY_ENCODING", older)
    doc = write_copies([video], tmp_path, COPY_SIDE)
    assert doc["encoding"]["keyint_s"] == 2.0
    monkeypatch.undo()
    copy = tmp_path / f"short{COPY_SIDE}" / "videos" / "v.mp4"
    os.utime(copy, (video.stat().st_mtime + 10,) * 2)  # newer than its original: not stale
    before = copy.stat().st_mtime_ns
    doc = write_copies([video], tmp_path, COPY_SIDE)
    assert doc["encoding"] == asdict(COPY_ENCODING)
    assert copy.stat().st_mtime_ns != before
    after = copy.stat().st_mtime_ns
    write_copies([video], tmp_path, COPY_SIDE)
    assert copy.stat().st_mtime_ns == after
