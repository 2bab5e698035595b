"""Map-style clip data sets: a batch sampler picks the grid of every batch.

Training items are :class:`~replication.data.sampler.ClipRequest` (index, grid, seed); the clip
is resampled on ``grids[grid]`` with augmentation drawn from ``seed`` alone, so results do not
depend on which worker decodes it. Evaluation items are plain ints over videos x views. Frames
are chosen by stride or by segments (``temporal_sampling``) at whatever T the grid has; with
action spans (Charades) a training clip's target is the classes its frames cover, an
evaluation clip's the video's.

A video that cannot be decoded never stops a run: a training item retries another random video
(bounded), an evaluation item comes back marked invalid, and either way the item carries the
``(path, reason)`` of every failure so the main process can count them and write the manifest.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from replication.data.clip_labels import VideoSpans, clip_classes
from replication.data.frames import FrameSource
from replication.data.on_device import collate_boxes
from replication.data.sampler import ClipRequest
from replication.data.transforms import (
    Grid,
    Sampling,
    cut_box,
    eval_views,
    render_view,
    slowfast_pathways,
    train_view,
)
from replication.data.video_io import VideoError
from replication.io.atomic import atomic_path


class ClipDataset(Dataset):
    """Clips of ``labels[i]``-labelled videos from ``source``, resampled on a grid.

    Args:
        source: decoded frames per video (file decoding or the frame cache).
        labels: per video, its class indices (one, or several for multi-label data).
        num_classes: size of the label space.
        mode: ``"train"`` (ClipRequest items, random views) or ``"eval"`` (int items, fixed views).
        grids: training grids, indexed by ClipRequest.grid; replace with :meth:`set_grids`.
        multi_label: labels as a multi-hot float vector (Charades) instead of a class index.
        slowfast_alpha: if set, items hold SlowFast's [slow, fast] pathways.
        eval_grid: evaluation shape; its min_rate is the stride and crop_size the test crop.
        views: evaluation (temporal, spatial) views per video, e.g. (10, 3).
        max_retries: training: other videos tried before giving up on an item.
        random_flip: training: flip clips left-right with probability 1/2.
        temporal_sampling: ``"stride"`` or ``"segments"`` (one frame per T-th of the video).
        spans: training, multi-label: per video, its action spans and length; a clip's target
            is then the classes its frames cover (:func:`clip_classes`), not the video's.
        resample_on: training: ``"worker"`` returns finished float clips; ``"device"`` the
            view's uint8 crop box with its flip and crop size, for
            :func:`~replication.data.on_device.resample_on_device` (evaluation: always clips).
    """

    def __init__(
        self,
        source: FrameSource,
        labels: Sequence[Sequence[int]],
        num_classes: int,
        *,
        mode: Literal["train", "eval"] = "train",
        grids: Sequence[Grid] = (),
        multi_label: bool = False,
        slowfast_alpha: int | None = None,
        eval_grid: Grid | None = None,
        views: tuple[int, int] = (1, 1),
        max_retries: int = 10,
        random_flip: bool = True,
        temporal_sampling: Sampling = "stride",
        spans: Sequence[VideoSpans] | None = None,
        resample_on: Literal["worker", "device"] = "worker",
    ) -> None:
        if len(source) != len(labels):
            raise ValueError(f"{len(source)} videos but {len(labels)} label entries")
        if spans is not None and len(spans) != len(labels):
            raise ValueError(f"{len(labels)} videos but {len(spans)} span entries")
        self.source = source
        self.labels = [tuple(x) for x in labels]
        self.num_classes = num_classes
        self.mode = mode
        self.grids = tuple(grids)
        self.multi_label = multi_label
        self.slowfast_alpha = slowfast_alpha
        self.eval_grid = eval_grid
        self.views = views
        self.max_retries = max_retries
        self.random_flip = random_flip
        self.temporal_sampling = temporal_sampling
        self.spans = None if spans is None else list(spans)
        self.resample_on = resample_on

    def set_grids(self, grids: Sequence[Grid]) -> None:
        """Switch to a long-cycle phase's grids (before the loader starts its workers)."""
        self.grids = tuple(grids)

    def __len__(self) -> int:
        per_video = self.views[0] * self.views[1] if self.mode == "eval" else 1
        return len(self.labels) * per_video

    def __getitem__(self, item: ClipRequest | int) -> dict[str, Any]:
        if self.mode == "train":
            assert isinstance(item, ClipRequest), "training items come from ShortCycleBatchSampler"
            return self._train_item(item)
        return self._eval_item(int(item))

    def _train_item(self, request: ClipRequest) -> dict[str, Any]:
        rng = np.random.default_rng(request.seed)
        grid = self.grids[request.grid]
        index, bad = request.index, []
        for _ in range(self.max_retries + 1):
            try:  # a sparse video (frames.SparseVideo) decodes in render_view
                video = self.source.frames(index, grid)
                view = train_view(video.shape[1], video.shape[2], video.shape[0], grid, rng,
                                  self.random_flip, self.temporal_sampling)  # fmt: skip
                if self.resample_on == "device":  # only indexing here: decode and cut
                    clip = cut_box(video, view)
                else:
                    clip = render_view(video, view, grid.crop_size)
            except VideoError as err:
                bad.append((err.path, err.reason))
                index = int(rng.integers(len(self.labels)))
                continue
            classes = self.labels[index]
            if self.spans is not None and self.spans[index][0]:
                classes = clip_classes(*self.spans[index], video.shape[0], view.frames)
            item = self._item(clip, index, request.grid, bad, True, classes)
            if self.resample_on == "device":
                item.update(flip=view.flip, crop_size=grid.crop_size)
            return item
        raise RuntimeError(
            f"{len(bad)} videos in a row could not be decoded (last: {bad[-1][0]}: "
            f"{bad[-1][1]}); check the data set with `python -m replication.data.check`"
        )

    def _eval_item(self, item: int) -> dict[str, Any]:
        assert self.eval_grid is not None, "evaluation needs eval_grid"
        g = self.eval_grid
        per_video = self.views[0] * self.views[1]
        index, view_index = divmod(item, per_video)
        try:  # a sparse video decodes in render_view
            video = self.source.frames(index, g)
            views = eval_views(video.shape[1], video.shape[2], video.shape[0], g.num_frames,
                               g.min_rate, g.crop_size, *self.views,
                               self.temporal_sampling)  # fmt: skip
            clip = render_view(video, views[view_index], g.crop_size)
        except VideoError as err:
            empty = torch.zeros(3, g.num_frames, g.crop_size, g.crop_size)
            bad = [(err.path, err.reason)]
            return self._item(empty, index, view_index, bad, False, self.labels[index])
        return self._item(clip, index, view_index, [], True, self.labels[index])

    def _item(
        self, clip: torch.Tensor, index: int, grid: int, bad: list, valid: bool,
        classes: Sequence[int],
    ) -> dict:  # fmt: skip
        video: torch.Tensor | list[torch.Tensor] = clip
        if self.slowfast_alpha and clip.dtype != torch.uint8:  # a box: packed on the device
            video = slowfast_pathways(clip, self.slowfast_alpha)
        return {"video": video, "label": self._label(classes), "index": index, "grid": grid,
                "valid": valid, "bad": bad}  # fmt: skip

    def _label(self, classes: Sequence[int]) -> torch.Tensor:
        if self.multi_label:
            target = torch.zeros(self.num_classes)
            target[list(classes)] = 1.0
            return target
        return torch.tensor(classes[0])


def collate_clips(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack clips (or each SlowFast pathway), labels and indices; gather bad-video reports.

    Uint8 crop boxes (``resample_on="device"``) are stacked by :func:`collate_boxes`.
    """
    first = items[0]["video"]
    if isinstance(first, torch.Tensor) and first.dtype == torch.uint8:
        return collate_boxes(items)
    if isinstance(first, list):
        video: Any = [torch.stack([it["video"][p] for it in items]) for p in range(len(first))]
    else:
        video = torch.stack([it["video"] for it in items])
    return {
        "video": video,  # (B, 3, T, S, S), or a list of pathways
        "label": torch.stack([it["label"] for it in items]),
        "index": torch.tensor([it["index"] for it in items]),
        "grid": torch.tensor([it["grid"] for it in items]),
        "valid": torch.tensor([it["valid"] for it in items]),
        "bad": [b for it in items for b in it["bad"]],
    }


class BadVideoManifest:
    """Counts undecodable videos seen by the loader and keeps ``bad_videos.csv`` up to date.

    Written by the main process only (workers report through the batches), atomically, and only
    when a new video turns up, so the cost is nil on a clean data set.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.reasons: dict[str, str] = {}
        self.counts: dict[str, int] = {}

    def update(self, bad: Sequence[tuple[str, str]]) -> None:
        """Record failures from one batch; rewrite the file if a video is new."""
        new = False
        for path, reason in bad:
            new |= path not in self.reasons
            self.reasons.setdefault(path, reason)
            self.counts[path] = self.counts.get(path, 0) + 1
        if new:
            self._write()

    def _write(self) -> None:
        with atomic_path(self.path) as tmp, open(tmp, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "reason", "failures"])
            for path in sorted(self.reasons):
                writer.writerow([path, self.reasons[path], self.counts[path]])
