"""Resampling a decoded video on a sampling grid, in plain torch (no pytorchvideo.transforms).

A grid fixes T (frames), the temporal stride range, S (crop side) and the random-resize range of
the short side. Training draws a random stride, temporal offset, scale, crop and flip; evaluation
takes deterministic views (K temporal clips x 3 spatial crops). Frames are chosen in one of two
ways (``data.temporal_sampling``): ``stride``, T frames a fixed or random stride apart (Kinetics,
Charades), or ``segments``, one frame from each of T equal segments of the whole video
(PySlowFast's Something-Something V2 reader), so T changes with the grid and the clip always
spans the video. To keep the cost independent of the source resolution, the crop box is chosen
in resized coordinates, mapped back to the source, and only that box is interpolated to S x S,
instead of resizing whole frames and then cropping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

# Kinetics statistics on [0, 1] pixels, as PySlowFast uses for every data set.
MEAN = (0.45, 0.45, 0.45)
STD = (0.225, 0.225, 0.225)
Sampling = Literal["stride", "segments"]  # how a clip's frames are chosen (data.temporal_sampling)


@dataclass(frozen=True)
class Grid:
    """A sampling grid: the shape a clip is resampled to and how it may be jittered."""

    num_frames: int  # T
    crop_size: int  # S, in pixels
    min_rate: int  # smallest temporal stride, in source frames
    max_rate: int  # largest temporal stride (== min_rate: fixed stride)
    jitter_min: int  # random resize: short side drawn from [jitter_min, jitter_max], pixels
    jitter_max: int


@dataclass(frozen=True)
class View:
    """Where one clip comes from: frame indices and a crop box in source pixels, plus flip."""

    frames: tuple[int, ...]
    top: float
    left: float
    height: float
    width: float
    flip: bool


def temporal_indices(num_video_frames: int, num_frames: int, stride: int, offset: int) -> list[int]:
    """Frame indices ``offset + i * stride``, clamped to the video (short videos repeat frames).

    >>> temporal_indices(10, 4, 3, 2)
    [2, 5, 8, 9]
    """
    last = num_video_frames - 1
    return [min(max(offset + i * stride, 0), last) for i in range(num_frames)]


def segment_indices(
    num_video_frames: int, num_frames: int, rng: np.random.Generator | None = None
) -> list[int]:
    """One frame per segment of ``num_frames`` equal segments: random (``rng``) or the middle.

    As PySlowFast's SSv2 reader: with ``size = (num_video_frames - 1) / num_frames``, segment
    ``i`` runs from ``round(size * i)`` to ``round(size * (i + 1))``, both ends included and
    rounded half to even; training draws a frame uniformly from it, testing takes
    ``(start + end) // 2``. Segments of a video shorter than ``num_frames`` overlap, so frames
    repeat across the clip rather than the last frame padding its end.

    >>> segment_indices(30, 8)
    [2, 5, 9, 12, 16, 20, 23, 27]
    >>> segment_indices(3, 6)
    [0, 0, 1, 1, 1, 2]
    """
    size = (num_video_frames - 1) / num_frames
    bounds = np.round(size * np.arange(num_frames + 1)).astype(np.int64)  # half to even
    starts, ends = bounds[:-1], bounds[1:]
    if rng is None:
        return ((starts + ends) // 2).tolist()
    return rng.integers(starts, ends + 1).tolist()


def _span(num_frames: int, stride: int) -> int:
    return (num_frames - 1) * stride + 1


def train_view(
    height: int,
    width: int,
    num_video_frames: int,
    grid: Grid,
    rng: np.random.Generator,
    allow_flip: bool = True,
    sampling: Sampling = "stride",
) -> View:
    """Random frames (stride and offset, or one per segment), short-side scale, crop and flip.

    ``allow_flip=False`` never flips (for classes such as "moving left" vs "moving right"); the
    flip is still drawn, so every other choice stays the same as with flips on.
    ``sampling="segments"`` draws one frame in each of ``grid.num_frames`` segments
    (:func:`segment_indices`); the grid's stride range is then unused.
    """
    if sampling == "segments":
        frames = segment_indices(num_video_frames, grid.num_frames, rng)
    else:
        stride = int(rng.integers(grid.min_rate, grid.max_rate + 1))
        span = _span(grid.num_frames, stride)
        offset = int(rng.integers(0, max(num_video_frames - span, 0) + 1))
        frames = temporal_indices(num_video_frames, grid.num_frames, stride, offset)
    short = int(rng.integers(grid.jitter_min, grid.jitter_max + 1))
    scale = short / min(height, width)  # resized frame = source * scale
    box = min(grid.crop_size / scale, height, width)  # crop side in source pixels
    top = float(rng.uniform(0, height - box))
    left = float(rng.uniform(0, width - box))
    flip = bool(rng.integers(0, 2)) and allow_flip
    return View(tuple(frames), top, left, box, box, flip)


def eval_views(
    height: int,
    width: int,
    num_video_frames: int,
    num_frames: int,
    stride: int,
    crop_size: int,
    temporal_views: int,
    spatial_views: int,
    sampling: Sampling = "stride",
) -> list[View]:
    """Deterministic test views: ``temporal_views`` evenly spaced clips x ``spatial_views`` crops.

    Frames are resized so their short side equals ``crop_size`` (PySlowFast's test resize); with
    3 spatial views the crops sit at the start, centre and end of the long side, with 1 at the
    centre. With ``sampling="segments"`` every temporal view takes the segment middles (the
    reference's SSv2 test reader ignores the temporal view index, so its views repeat).
    """
    span = _span(num_frames, stride)
    room = max(num_video_frames - span, 0)
    box = float(min(height, width))  # short side -> crop_size, so the box is the short side
    views = []
    for k in range(temporal_views):
        offset = round(k * room / (temporal_views - 1)) if temporal_views > 1 else room // 2
        if sampling == "segments":
            frames = tuple(segment_indices(num_video_frames, num_frames))
        else:
            frames = tuple(temporal_indices(num_video_frames, num_frames, stride, offset))
        for j in range(spatial_views):
            frac = j / (spatial_views - 1) if spatial_views > 1 else 0.5
            top, left = (height - box) * frac, (width - box) * frac
            views.append(View(frames, top, left, box, box, False))
    return views


def render_view(video: np.ndarray | torch.Tensor, view: View, crop_size: int) -> torch.Tensor:
    """Cut ``view`` out of ``video`` (T, H, W, 3) uint8 and return a normalised (3, T', S, S) float.

    Only the selected frames and the crop box are touched, so a clip costs O(T' * S^2). The two
    halves are :func:`cut_box` (indexing only) and :func:`resample_box` (the arithmetic), so
    the second may run on the training device instead (:mod:`~replication.data.on_device`).
    """
    return resample_box(cut_box(video, view), view.flip, crop_size)


def cut_box(video: np.ndarray | torch.Tensor, view: View) -> torch.Tensor:
    """The view's frames and its crop box rounded out to whole pixels: (T', h, w, 3) uint8."""
    frames = torch.as_tensor(video[list(view.frames)])  # (T', H, W, 3) uint8
    h, w = frames.shape[1], frames.shape[2]
    top, left = math.floor(view.top), math.floor(view.left)
    bottom = min(h, max(top + 1, round(view.top + view.height)))
    right = min(w, max(left + 1, round(view.left + view.width)))
    return frames[:, top:bottom, left:right]


def resample_box(box: torch.Tensor, flip: bool, crop_size: int) -> torch.Tensor:
    """Scale a (T', h, w, 3) uint8 box to S x S, flip it, normalise: (3, T', S, S) float.

    Runs on whatever device ``box`` is on.
    """
    box = box.permute(0, 3, 1, 2).float()  # (T', 3, h, w)
    box = F.interpolate(box, size=(crop_size, crop_size), mode="bilinear", align_corners=False,
                        antialias=box.shape[-1] > crop_size)  # fmt: skip
    if flip:
        box = box.flip(-1)
    mean = torch.tensor(MEAN, device=box.device).view(1, 3, 1, 1) * 255.0
    std = torch.tensor(STD, device=box.device).view(1, 3, 1, 1) * 255.0
    return ((box - mean) / std).permute(1, 0, 2, 3).contiguous()  # (3, T', S, S)


def slowfast_pathways(clip: torch.Tensor, alpha: int) -> list[torch.Tensor]:
    """Pack a (C, T, S, S) clip for SlowFast: [slow = every alpha-th frame, fast = all frames].

    ``::alpha`` keeps at least one slow frame even when T < alpha (the coarsest long-cycle grid).
    """
    return [clip[:, ::alpha].contiguous(), clip]
