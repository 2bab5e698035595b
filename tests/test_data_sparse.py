"""Decoding only the frames a clip keeps, the multi-resolution store, Kinetics-sized videos."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from videos import smooth_frames, write_good

from replication.data import video_io
from replication.data.copies import VideoCopies, write_copies
from replication.data.dataset import ClipDataset
from replication.data.frames import DecodedFrames, SparseVideo
from replication.data.sampler import ClipRequest
from replication.data.synthetic.kinetics import generate_kinetics_like, render_kinetics_like
from replication.data.transforms import Grid
from replication.data.video_io import index_video, read_frames, read_video, write_video


@pytest.fixture(scope="module")
def gop_video(tmp_path_factory) -> str:
    """96 frames, 80x64, B-frames and a keyframe every 20 frames (seeks land mid-file)."""
    path = tmp_path_factory.mktemp("gop") / "v.mp4"
    frames = render_kinetics_like(np.random.default_rng(0), 80, 64, 96)
    write_video(path, frames, fps=25, crf=23, keyint=20, preset="medium")
    return str(path)


@pytest.mark.parametrize("segment", [(0.0, None), (1.0, 2.5), (0.37, None), (0.0, 1.3)])
def test_sparse_frames_equal_whole_decode(gop_video, segment):
    whole = read_video(gop_video, *segment)[0]
    index = index_video(gop_video, *segment)
    assert index is not None and index.num_frames == len(whole)
    rng = np.random.default_rng(1)
    for _ in range(4):
        wanted = [*sorted(rng.integers(0, len(whole), 6).tolist()), len(whole) - 1, 0]
        assert np.array_equal(read_frames(gop_video, index, wanted), whole[wanted])


def test_smoke_videos_decode_the_same(tmp_path):
    path = write_good(tmp_path / "a.mp4", seed=3, num_frames=32)
    whole = read_video(path, short_side=320)[0]
    sparse = DecodedFrames([_Rec(path)], short_side=320).frames(0)
    assert isinstance(sparse, SparseVideo) and sparse.shape == whole.shape
    assert np.array_equal(sparse[[0, 7, 7, 31, 12]], whole[[0, 7, 7, 31, 12]])


def test_only_sampled_frames_are_converted(gop_video, monkeypatch):
    converted = []
    real = video_io._rgb

    def counting(frame, size, stats):
        converted.append(frame.pts)
        return real(frame, size, stats)

    monkeypatch.setattr(video_io, "_rgb", counting)
    index = index_video(gop_video)
    wanted = [30, 38, 46, 54, 54, 62]
    read_frames(gop_video, index, wanted)
    assert sorted(converted) == [index.start_pts + i * index.step for i in sorted(set(wanted))]


def test_clips_are_the_same_sparse_or_whole(gop_video):
    grid = Grid(8, 32, 2, 8, 40, 80)
    clips = []
    for sparse in (True, False):
        source = DecodedFrames([_Rec(gop_video)], short_side=80, sparse=sparse)
        dataset = ClipDataset(source, [[0]], 1, grids=[grid])
        clips.append(dataset[ClipRequest(0, 0, 123)]["video"])
    assert np.array_equal(clips[0].numpy(), clips[1].numpy())


def test_store_copy_equals_scaled_original(tmp_path):
    src = tmp_path / "videos" / "v.mp4"
    src.parent.mkdir()
    grey = smooth_frames(5, 24, size=96).mean(axis=-1, keepdims=True).astype(np.uint8)
    write_video(src, np.repeat(grey, 3, axis=-1), fps=25, crf=23, keyint=10)
    doc = write_copies([src], tmp_path, short_side=32)
    copy = tmp_path / "short32" / doc["videos"][str(src)]
    full = torch.as_tensor(read_video(src)[0]).permute(0, 3, 1, 2).float()
    scaled = read_video(src, short_side=32)[0].astype(float)
    stored = read_video(copy)[0].astype(float)
    assert stored.shape == scaled.shape == (24, 32, 32, 3)
    # Resize tolerance: how far another fair resize (torch, antialiased) lands from FFmpeg's.
    other = F.interpolate(full, size=(32, 32), mode="bilinear", antialias=True)
    tolerance = np.abs(other.permute(0, 2, 3, 1).numpy() - scaled).mean()
    # Measured: 3.0 grey levels against 1.3 (H.264 at crf 20 on 32-px gratings; at 128 px on
    # the Kinetics-sized videos 6.3 against 3.7, most of it 4:2:0 chroma at the copy's size).
    assert np.abs(stored - scaled).mean() < min(4.0, 3 * tolerance)
    copies = VideoCopies.find(tmp_path / "train.csv")
    assert copies.choose(src, Grid(8, 28, 2, 8, 32, 80), 320) == (copy, 320)
    assert copies.choose(src, Grid(8, 56, 2, 8, 64, 80), 320) == (src, 320)
    assert VideoCopies({}, decoder_scale=True).choose(src, Grid(8, 28, 2, 8, 32, 80), 320) == (
        src,
        32,
    )


def test_bad_video_gets_no_copy(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    doc = write_copies([bad], tmp_path, short_side=16)
    assert doc["videos"] == {} and str(bad) in doc["bad"]


def test_kinetics_like_videos(tmp_path):
    out = generate_kinetics_like(tmp_path, 1, width=64, height=48, seconds=2, fps=25, keyint_s=1)
    path = out / "videos" / "clip_000.mp4"
    info = video_io.probe(path)
    assert (info.width, info.height, info.fps, info.num_frames) == (64, 48, 25, 50)
    with av.open(str(path)) as container:
        keys = [p.pts for p in container.demux(video=0) if p.is_keyframe]
    assert len(keys) == 2
    assert (out / "train.csv").read_text().startswith("path,label\nvideos/clip_000.mp4,0")


def test_smooth_frames_still_write(tmp_path):
    """The default encoder settings stay byte-reproducible, as the generator command uses them:
    each file written by a fresh process. Inside this long test process two encodes of the same
    frames came out different in 2 of 2 full-suite runs (never in 120 fresh processes), so the
    in-process case is an open problem, not what this checks."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[2]); from videos import smooth_frames; "
        "from replication.data.video_io import write_video; "
        "write_video(sys.argv[1], smooth_frames(0, 8))"
    )
    tests = str(Path(__file__).parent)
    for name in ("a.mp4", "b.mp4"):
        subprocess.run([sys.executable, "-c", script, str(tmp_path / name), tests], check=True)
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()


class _Rec:
    def __init__(self, path, start_s: float = 0.0, end_s: float | None = None) -> None:
        self.path, self.start_s, self.end_s = path, start_s, end_s
