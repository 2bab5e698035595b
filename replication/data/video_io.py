"""Reading and writing video files: the only module that imports PyAV.

Decoding failures of any kind (missing file, no video stream, corrupt or truncated data, zero
frames) surface as one exception type, :class:`VideoError`, naming the file, so the data loader
can count, skip and report bad videos without knowing FFmpeg's error zoo.
"""

from __future__ import annotations

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


def write_video(path: str | Path, frames: np.ndarray, fps: int = 16, crf: int = 18) -> None:
    """Encode ``frames`` (T, H, W, 3) uint8 RGB as H.264 mp4, atomically (temp file + rename).

    H and W must be even (yuv420p). ``crf`` 18 is visually lossless; fine textures survive.
    One encoder thread and no lookahead thread (``sync-lookahead=0``): with libx264's default
    threads the same frames gave different files from run to run (462 of the 680 smoke videos
    between two generations), so a regenerated data set trained differently. One thread was not
    enough: x264 still runs its frame-type lookahead in a thread of its own, whose timing decides
    frame types, and the same generator command wrote different files in 14 of 30 pairs of runs
    (left-moving clips); without it, 0 of 40. These clips encode as fast either way.
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
        stream.options = {"crf": str(crf), "preset": "veryfast", "threads": "1",
                          "x264-params": "sync-lookahead=0"}  # fmt: skip
        for index, frame in enumerate(frames):
            yuv = av.VideoFrame.from_ndarray(_rgb_to_yuv420p(frame), format="yuv420p")
            yuv.pts = index
            container.mux(stream.encode(yuv))
        container.mux(stream.encode())


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
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(path, "no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            duration = float(stream.duration * stream.time_base) if stream.duration else 0.0
            if not duration and container.duration:
                duration = container.duration / 1_000_000
            return VideoInfo(stream.frames, fps, stream.width, stream.height, duration)
    except VideoError:
        raise
    except FileNotFoundError:
        raise VideoError(path, "file not found") from None
    except (av.FFmpegError, OSError, ValueError, IndexError) as err:
        raise VideoError(path, f"cannot open: {err}") from None


def read_video(
    path: str | Path,
    start_s: float = 0.0,
    end_s: float | None = None,
    short_side: int | None = None,
) -> tuple[np.ndarray, float]:
    """Decode frames in ``[start_s, end_s)`` as (T, H, W, 3) uint8 RGB, plus the frame rate.

    Args:
        path: video file.
        start_s: first timestamp to keep, in seconds (the decoder seeks to the keyframe before).
        end_s: stop before this timestamp; None decodes to the end.
        short_side: if set and smaller than the video's, frames are scaled (area-preserving
            bilinear in FFmpeg) so their short side is this many pixels.

    Raises:
        VideoError: the file is missing, has no video stream, is corrupt, or yields no frames.
    """
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(path, "no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            fps = float(stream.average_rate or stream.guessed_rate or 0) or 30.0
            if start_s > 0:
                container.seek(int(start_s / stream.time_base), stream=stream)
            size = _scaled_size(stream.width, stream.height, short_side)
            frames = []
            for frame in container.decode(stream):
                t = float(frame.pts * stream.time_base) if frame.pts is not None else None
                if t is not None and t < start_s - 1e-6:
                    continue
                if end_s is not None and t is not None and t >= end_s:
                    break
                frames.append(frame.to_ndarray(format="rgb24", width=size[0], height=size[1]))
    except VideoError:
        raise
    except FileNotFoundError:
        raise VideoError(path, "file not found") from None
    except (av.FFmpegError, OSError, ValueError, IndexError, MemoryError) as err:
        raise VideoError(path, f"cannot decode: {err}") from None
    if not frames:
        raise VideoError(path, "no frames decoded")
    return np.stack(frames), fps


def _scaled_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    if short_side is None or min(width, height) <= short_side:
        return width, height
    scale = short_side / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))
