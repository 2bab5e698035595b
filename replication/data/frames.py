"""Where decoded frames come from: the video file each time, or a decoded-frame cache.

Multigrid's 8-16x larger batches make decoding the bottleneck (SlowFast issues #292, #429; the
TSM paper calls data loading bottleneck number one). The cache decodes each video once, at a short
side no larger than the largest random-resize target, into one uint8 memory-mapped file; workers
then slice frames from the page cache instead of running FFmpeg for every clip.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from replication.data.video_io import (
    FrameIndex,
    VideoError,
    index_video,
    probe,
    read_frames,
    read_video,
)
from replication.io.atomic import atomic_path, atomic_write_json

CACHE_VERSION = 1


class FrameSource(Protocol):
    """Decoded frames of video ``index`` as (T, H, W, 3) uint8; raises VideoError when bad."""

    def __len__(self) -> int: ...

    def frames(self, index: int, grid: Any = None) -> np.ndarray:
        """Frames of video ``index`` (an array, or an object indexed like one) for ``grid``."""
        ...


class Segment(Protocol):
    """What a source needs to know about a video (``annotations.VideoRecord`` fits)."""

    path: Path
    start_s: float
    end_s: float | None


class SparseVideo:
    """A video's frames as an array-like that decodes only the frames it is indexed with.

    ``shape`` is (T, H, W, 3) from the container header, so a view can be drawn before any
    decoding; ``video[list_of_frames]`` then seeks to the keyframe before the first of them,
    decodes to the last and converts only those to RGB (:func:`read_frames`).
    """

    def __init__(self, path: Path, index: FrameIndex, short_side: int | None, threads: int):
        self.path, self.index, self.short_side, self.threads = path, index, short_side, threads
        scale = 1.0
        if short_side is not None and min(index.width, index.height) > short_side:
            scale = short_side / min(index.width, index.height)
        size = max(1, round(index.height * scale)), max(1, round(index.width * scale))
        self.shape = (index.num_frames, *size, 3)
        self.stats: dict[str, float] | None = None  # set by the loader benchmark

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, frames: int | Sequence[int]) -> np.ndarray:
        wanted = [frames] if isinstance(frames, int) else [int(f) for f in frames]
        out = read_frames(self.path, self.index, wanted, self.short_side, threads=self.threads,
                          stats=self.stats)  # fmt: skip
        return out[0] if isinstance(frames, int) else out


class DecodedFrames:
    """Decode the video file on every request (the mp4 path; no preparation, more CPU).

    By default only the frames a clip keeps are decoded and converted (:class:`SparseVideo`):
    a clip's cost follows its grid's frame count and span, not the video's length. Videos whose
    frames cannot be counted from the header (variable frame rate) are decoded whole.

    Args:
        records: the videos (path and annotated segment).
        short_side: frames are scaled down to at most this short side.
        sparse: decode only the indexed frames (False: the whole segment, as before).
        threads: decoder threads per video (1: one core per loader worker; 0: FFmpeg's choice).
        copies: a multi-resolution store (:class:`~replication.data.copies.VideoCopies`):
            grids whose crop allows it read its smaller copies and decode at their size.
    """

    def __init__(
        self,
        records: Sequence[Segment],
        short_side: int | None = None,
        *,
        sparse: bool = True,
        threads: int = 1,
        copies: Any = None,
    ) -> None:
        self.records = list(records)
        self.short_side = short_side
        self.sparse, self.threads, self.copies = sparse, threads, copies
        self._index: dict[tuple[str, float, float | None], FrameIndex | None] = {}
        self.stats: dict[str, float] | None = None  # CPU seconds per stage (the benchmark's)

    def __len__(self) -> int:
        return len(self.records)

    def frames(self, index: int, grid: Any = None) -> np.ndarray | SparseVideo:
        """Video ``index`` (its annotated segment only), at the resolution ``grid`` needs."""
        r = self.records[index]
        path, short = Path(r.path), self.short_side
        if self.copies is not None and grid is not None:
            path, short = self.copies.choose(path, grid, short)
        if not self.sparse:
            return read_video(path, r.start_s, r.end_s, short, threads=self.threads,
                              stats=self.stats)[0]  # fmt: skip
        key = (str(path), r.start_s, r.end_s)
        if key not in self._index:
            self._index[key] = index_video(path, r.start_s, r.end_s)
        frame_index = self._index[key]
        if frame_index is None:  # frames cannot be counted: decode the segment whole
            return read_video(path, r.start_s, r.end_s, short, threads=self.threads,
                              stats=self.stats)[0]  # fmt: skip
        if frame_index.num_frames < 1:
            raise VideoError(path, "no frames in the segment")
        video = SparseVideo(path, frame_index, short, self.threads)
        video.stats = self.stats
        return video


class FrameCache:
    """Decoded frames of every video in one memory-mapped uint8 file, built once.

    Layout of ``directory``: ``frames.u8`` (all frames back to back) and ``index.json`` (offset
    and shape per video, or the reason it could not be decoded). The index key hashes the file
    list, sizes, modification times and short side, so a changed data set rebuilds the cache.
    """

    def __init__(self, directory: Path, build_s: float = 0.0) -> None:
        self.directory = Path(directory)
        # Seconds this process spent building the cache (0.0: reused). It is data preparation,
        # done once per data set, so a run's job clock leaves it out (engine.setup).
        self.build_s = build_s
        index = json.loads((self.directory / "index.json").read_text())
        self.entries: list[dict] = index["videos"]
        self.short_side: int = index["short_side"]
        self._data: np.memmap | None = None  # opened lazily: each worker maps it itself

    def __len__(self) -> int:
        return len(self.entries)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_data": None}  # memmaps are not sent to workers

    def frames(self, index: int, grid: Any = None) -> np.ndarray:
        """Frames of video ``index`` as a read-only view into the mapped file (any grid)."""
        entry = self.entries[index]
        if entry["error"] is not None:
            raise VideoError(entry["path"], entry["error"])
        if self._data is None:
            self._data = np.memmap(self.directory / "frames.u8", dtype=np.uint8, mode="r")
        t, h, w = entry["shape"]
        start = entry["offset"]
        return self._data[start : start + t * h * w * 3].reshape(t, h, w, 3)

    @staticmethod
    def key(records: Sequence[Segment], short_side: int) -> str:
        """Fingerprint of the data set and decode settings the cache was built from."""
        digest = hashlib.sha256(f"v{CACHE_VERSION} {short_side}".encode())
        for r in records:
            try:
                st = os.stat(r.path)
                stamp = f"{st.st_size} {st.st_mtime_ns}"
            except OSError:
                stamp = "missing"
            digest.update(f"{r.path} {r.start_s} {r.end_s} {stamp}\n".encode())
        return digest.hexdigest()

    @classmethod
    def build(
        cls,
        records: Sequence[Segment],
        directory: Path,
        short_side: int,
        progress: bool = True,
        poll: Callable[[], None] | None = None,
    ) -> FrameCache:
        """Decode every video once into ``directory`` (reused when its key still matches).

        Bad videos are recorded with their reason, not skipped, so the loader reports them.
        The index is written last and atomically: an interrupted build leaves no valid cache.
        ``poll`` is called before every video; whatever it raises aborts the build (a preempted
        job stops here rather than decoding a whole data set first).
        """
        directory = Path(directory)
        started = time.perf_counter()
        key = cls.key(records, short_side)
        index_path = directory / "index.json"
        if index_path.is_file() and json.loads(index_path.read_text()).get("key") == key:
            return cls(directory)
        entries, offset = [], 0
        with atomic_path(directory / "frames.u8") as tmp, open(tmp, "wb") as out:
            for r in tqdm(
                records, desc="decoding into frame cache", unit="video", disable=not progress
            ):
                if poll is not None:
                    poll()
                try:
                    frames = read_video(r.path, r.start_s, r.end_s, short_side)[0]
                except VideoError as err:
                    entries.append({"path": str(r.path), "error": err.reason})
                    continue
                out.write(np.ascontiguousarray(frames).tobytes())
                entries.append({"path": str(r.path), "error": None, "offset": offset,
                                "shape": list(frames.shape[:3])})  # fmt: skip
                offset += frames.size
        index = {"version": CACHE_VERSION, "key": key, "short_side": short_side, "videos": entries}
        atomic_write_json(index_path, index, indent=None)
        return cls(directory, build_s=time.perf_counter() - started)


def estimated_cache_bytes(records: Sequence[Segment], short_side: int) -> int:
    """Size the cache would take, from container headers (no decoding); bad files count 0."""
    total = 0
    for r in records:
        try:
            info = probe(r.path)
        except VideoError:
            continue
        scale = min(1.0, short_side / max(1, min(info.width, info.height)))
        duration = (r.end_s or info.duration_s) - r.start_s
        frames = info.num_frames or round(max(duration, 0) * info.fps)
        total += frames * round(info.height * scale) * round(info.width * scale) * 3
    return total
