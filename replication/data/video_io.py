"""Reading and writing video files: the only module that imports PyAV.

Decoding failures of any kind (missing file, no video stream, corrupt or truncated data, zero
frames) surface as one exception type, :class:`VideoError`, naming the file, so the data loader
can count, skip and report bad videos without knowing FFmpeg's error zoo.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from replication.io.atomic import atomic_path


class VideoError(RuntimeError):
    """A video that cannot be decoded; ``path`` and ``reason`` say which and why."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class VideoInfo:
    """Container-level facts about a video, read without decoding every frame."""

    num_frames: int  # as declared by the container (0 when unknown)
    fps: float
    width: int
    height: int
    duration_s: float


# x264 settings that make an encode a function of its frames alone (write_video says why).
REPRODUCIBLE_X264 = "sync-lookahead=0:mbtree=0"


def write_video(
    path: str | Path,
    frames: np.ndarray,
    fps: int = 16,
    crf: int = 18,
    *,
    keyint: int | None = None,
    preset: str = "veryfast",
) -> None:
    """Encode ``frames`` (T, H, W, 3) uint8 RGB as H.264 mp4, atomically (temp file + rename).

    H and W must be even (yuv420p). ``crf`` 18 is visually lossless; fine textures survive.
    ``keyint`` fixes the keyframe interval in frames (no scene-cut keyframes), as a streaming
    transcode does; None keeps x264's default (250, plus scene cuts).
    One encoder thread and no lookahead thread (``sync-lookahead=0``): with libx264's default
    threads the same frames gave different files from run to run (462 of the 680 smoke videos
    between two generations), so a regenerated data set trained differently. One thread was not
    enough: x264 still runs its frame-type lookahead in a thread of its own, whose timing decides
    frame types, and the same generator command wrote different files in 14 of 30 pairs of runs
    (left-moving clips); without it, 0 of 40. These clips encode as fast either way.
    No macroblock tree (``mbtree=0``): with it, x264's SIMD code reads memory it never wrote, so
    the same frames in the same settings gave other bytes whenever the process's heap differed
    (a process that imported torch, another ``MALLOC_PERTURB_``): 446 of the 680 smoke videos
    between two generations. Without it, or with x264's SIMD off, the bytes stayed the same.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    _, height, width, _ = frames.shape
    if height % 2 or width % 2:
        raise ValueError(f"H.264 yuv420p needs even sizes, got {width}x{height}")
    with atomic_path(path) as tmp, av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        x264 = REPRODUCIBLE_X264 + (f":keyint={keyint}:min-keyint={keyint}:scenecut=0"
                                    if keyint else "")  # fmt: skip
        stream.options = {"crf": str(crf), "preset": preset, "threads": "1", "x264-params": x264}
        for index, frame in enumerate(frames):
            yuv = av.VideoFrame.from_ndarray(_rgb_to_yuv420p(frame), format="yuv420p")
            yuv.pts = index
            container.mux(stream.encode(yuv))
        container.mux(stream.encode())


@dataclass(frozen=True)
class CopyEncoding:
    """How :func:`write_scaled_copy` encodes the multi-resolution store's copies.

    The store's manifest records it (:mod:`replication.data.copies`), so copies written with
    other settings are written again. Why these numbers (``python -m replication.bench.decode``,
    store mode, on the Kinetics-sized generated files): crf 18, since without the macroblock
    tree crf 20 missed the store's 4-grey-level bound; a keyframe every second instead of the
    originals' 2 s, since a sparse read decodes from the keyframe before the clip: at the
    coarsest grid (8x112) that cut decode work per clip from about 0.37 of the base grid's to
    0.24, for copies 7 % larger (README, "Data loader capacity").
    """

    crf: int = 18
    keyint_s: float = 1.0
    x264: str = REPRODUCIBLE_X264


COPY_ENCODING = CopyEncoding()


def write_scaled_copy(
    src: str | Path, dst: str | Path, short_side: int, encoding: CopyEncoding = COPY_ENCODING
) -> None:
    """Re-encode ``src`` with its short side scaled to ``short_side`` (same rate and pts).

    Frames are scaled in YUV (no RGB round trip), even-sized, H.264 as ``encoding`` says.
    Raises :class:`VideoError` when ``src`` cannot be decoded.
    """
    with (
        _video_errors(src, "decode", (MemoryError,)),
        av.open(str(src)) as container,
        atomic_path(dst) as tmp,
    ):
        stream = _video_stream(container, src, 1)
        rate = stream.average_rate or stream.guessed_rate or Fraction(30)
        w, h = (2 * max(1, x // 2) for x in _scaled_size(stream.width, stream.height,
                                                         short_side))  # fmt: skip
        with av.open(str(tmp), mode="w", format="mp4") as out:
            enc = out.add_stream("libx264", rate=rate)
            enc.width, enc.height, enc.pix_fmt = w, h, "yuv420p"
            enc.time_base = stream.time_base
            keyint = max(1, round(encoding.keyint_s * float(rate)))
            x264 = f"{encoding.x264}:keyint={keyint}:scenecut=0"
            enc.options = {"crf": str(encoding.crf), "preset": "medium", "threads": "1",
                           "x264-params": x264}  # fmt: skip
            for frame in container.decode(stream):
                small = frame.reformat(width=w, height=h, format="yuv420p")
                small.pts, small.time_base = frame.pts, stream.time_base
                out.mux(enc.encode(small))
            out.mux(enc.encode())


def _rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """BT.601 limited-range YUV 4:2:0, packed as PyAV's ``yuv420p`` array (H * 3/2, W).

    Done in numpy because PyAV's own RGB conversion gave noticeably different frames (up to
    3.5 grey levels on average) for the same input within one process.
    """
    x = rgb.astype(np.float32)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    h, w = y.shape

    def half(plane: np.ndarray) -> np.ndarray:
        return plane.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))

    planes = [np.rint(p).clip(0, 255).astype(np.uint8).ravel() for p in (y, half(u), half(v))]
    return np.concatenate(planes).reshape(h * 3 // 2, w)


def probe(path: str | Path) -> VideoInfo:
    """Read the container header; raises :class:`VideoError` when there is no video stream."""
    with _video_errors(path, "open"), av.open(str(path)) as container:
        if not container.streams.video:
            raise VideoError(path, "no video stream")
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        duration = float(stream.duration * stream.time_base) if stream.duration else 0.0
        if not duration and container.duration:
            duration = container.duration / 1_000_000
        return VideoInfo(stream.frames, fps, stream.width, stream.height, duration)


def read_video(
    path: str | Path,
    start_s: float = 0.0,
    end_s: float | None = None,
    short_side: int | None = None,
    *,
    threads: int = 0,
    stats: dict[str, float] | None = None,
) -> tuple[np.ndarray, float]:
    """Decode frames in ``[start_s, end_s)`` as (T, H, W, 3) uint8 RGB, plus the frame rate.

    Args:
        path: video file.
        start_s: first timestamp to keep, in seconds (the decoder seeks to the keyframe before).
        end_s: stop before this timestamp; None decodes to the end.
        short_side: if set and smaller than the video's, frames are scaled (area-preserving
            bilinear in FFmpeg) so their short side is this many pixels.
        threads: decoder threads (0: FFmpeg chooses, one per core).
        stats: if given, CPU seconds (``time.process_time``) are added to its "open",
            "decode" and "convert" entries (the loader benchmark's stages).

    Raises:
        VideoError: the file is missing, has no video stream, is corrupt, or yields no frames.
    """
    start = time.process_time()
    with _video_errors(path, "decode", (MemoryError,)), av.open(str(path)) as container:
        stream = _video_stream(container, path, threads)
        fps = float(stream.average_rate or stream.guessed_rate or 0) or 30.0
        if start_s > 0:
            container.seek(int(start_s / stream.time_base), stream=stream)
        size = _scaled_size(stream.width, stream.height, short_side)
        _add(stats, "open", start)
        frames = []
        for frame in _decoded(container, stream, stats):
            t = float(frame.pts * stream.time_base) if frame.pts is not None else None
            if t is not None and t < start_s - 1e-6:
                continue
            if end_s is not None and t is not None and t >= end_s:
                break
            frames.append(_rgb(frame, size, stats))
    if not frames:
        raise VideoError(path, "no frames decoded")
    return np.stack(frames), fps


@dataclass(frozen=True)
class FrameIndex:
    """Where a segment's frames sit in a constant-frame-rate stream (whole pts steps)."""

    num_frames: int  # frames in the segment: what read_video would return
    first: int  # stream-wide index of the segment's first frame
    start_pts: int  # pts of the stream's first frame
    step: int  # pts per frame
    width: int
    height: int


def index_video(
    path: str | Path, start_s: float = 0.0, end_s: float | None = None
) -> FrameIndex | None:
    """The segment's frame index from the header, or None where frames cannot be counted.

    None (a variable frame rate, a frame duration that is not a whole number of pts, or no
    frame count in the header) means: decode the segment with :func:`read_video` instead.
    Raises :class:`VideoError` like :func:`probe`.
    """
    with _video_errors(path, "open"), av.open(str(path)) as container:
        stream = _video_stream(container, path, 1)
        rate, base = stream.average_rate, stream.time_base
        if not (rate and base and stream.frames):
            return None
        step = 1 / (rate * base)
        if step.denominator != 1:
            return None
        step, start_pts = int(step), int(stream.start_time or 0)
        width, height, total = stream.width, stream.height, stream.frames

    def first_at(seconds: float) -> int:  # the first frame whose time is >= seconds
        pts = seconds / float(base) - start_pts
        return min(total, max(0, -int(-pts // step)))

    first = first_at(start_s - 1e-6) if start_s > 0 else 0
    end = total if end_s is None else first_at(end_s)
    return FrameIndex(end - first, first, start_pts, step, width, height)


def read_frames(
    path: str | Path,
    index: FrameIndex,
    wanted: Sequence[int],
    short_side: int | None = None,
    *,
    threads: int = 0,
    stats: dict[str, float] | None = None,
) -> np.ndarray:
    """Decode only frames ``wanted`` (segment indices, repeats allowed) as (len, H, W, 3) uint8.

    The decoder seeks to the keyframe before the first wanted frame and stops after the last;
    only wanted frames are converted to RGB (and scaled, as :func:`read_video`), so a clip that
    keeps 8 of 64 frames converts 8. Frames equal :func:`read_video`'s at the same indices.
    """
    lo, hi = min(wanted), max(wanted)
    if lo < 0 or hi >= index.num_frames:
        raise IndexError(f"{path}: frames {lo}-{hi} outside 0-{index.num_frames - 1}")
    keep: dict[int, np.ndarray | None] = dict.fromkeys(wanted)
    start = time.process_time()
    with _video_errors(path, "decode", (MemoryError, TypeError)), av.open(str(path)) as container:
        stream = _video_stream(container, path, threads)
        if lo + index.first > 0:
            container.seek(index.start_pts + (lo + index.first) * index.step, stream=stream)
        size = _scaled_size(index.width, index.height, short_side)
        _add(stats, "open", start)
        for frame in _decoded(container, stream, stats):
            at = round((frame.pts - index.start_pts) / index.step) - index.first
            if at > hi:
                break
            if at in keep and keep[at] is None:
                keep[at] = _rgb(frame, size, stats)
    missing = [i for i, frame in keep.items() if frame is None]
    if missing:
        raise VideoError(path, f"frames {missing[0]}-{missing[-1]} not decoded")
    return np.stack([keep[i] for i in wanted])


@contextmanager
def _video_errors(
    path: str | Path, doing: str, also: tuple[type[Exception], ...] = ()
) -> Iterator[None]:
    """FFmpeg's errors while opening or decoding ``path`` as one :class:`VideoError` naming it.

    ``doing`` says which ("open", "decode"); ``also``: further exception types that mean a bad
    file there (a truncated stream can raise MemoryError or TypeError inside PyAV).
    """
    try:
        yield
    except VideoError:
        raise
    except FileNotFoundError:
        raise VideoError(path, "file not found") from None
    except (av.FFmpegError, OSError, ValueError, IndexError, *also) as err:
        raise VideoError(path, f"cannot {doing}: {err}") from None


def _video_stream(container, path: str | Path, threads: int):
    if not container.streams.video:
        raise VideoError(path, "no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    stream.codec_context.thread_count = threads
    return stream


def _decoded(container, stream, stats: dict[str, float] | None) -> Iterator:
    """``container.decode(stream)``, adding the CPU time of each step to ``stats["decode"]``."""
    frames = container.decode(stream)
    while True:
        start = time.process_time()
        frame = next(frames, None)
        _add(stats, "decode", start)
        if frame is None:
            return
        yield frame


def _rgb(frame, size: tuple[int, int], stats: dict[str, float] | None) -> np.ndarray:
    start = time.process_time()
    rgb = frame.to_ndarray(format="rgb24", width=size[0], height=size[1])
    _add(stats, "convert", start)
    return rgb


def _add(stats: dict[str, float] | None, stage: str, start: float) -> None:
    if stats is not None:
        stats[stage] = stats.get(stage, 0.0) + time.process_time() - start


def _scaled_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    if short_side is None or min(width, height) <= short_side:
        return width, height
    scale = short_side / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))
