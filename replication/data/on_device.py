"""Resampling on the training device: workers decode and cut, the device scales (#18, item c).

At the coarse multigrid grids a loader worker spends a large share of its CPU time scaling,
flipping and normalising clips that the GPU could make in microseconds (FFCV and Composer move
this step to the GPU for the same reason). In ``resample_on="device"`` mode a training item
holds only :func:`~replication.data.transforms.cut_box`'s uint8 frames of the view's crop box
(whole pixels, no arithmetic), with its flip and crop size; :func:`collate_boxes` pads a
batch's boxes to one size and :func:`resample_on_device` finishes each clip with
:func:`~replication.data.transforms.resample_box` on the device, which is the worker path's
own second half, so clips are the same up to the device's float rounding. Uint8 boxes are also
smaller to transfer than float clips (1 byte against 4 per value, and the box is at most the
decoded short side).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from replication.data.transforms import resample_box, slowfast_pathways


def collate_boxes(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack uint8 crop boxes of one grid, zero-padded to the batch's largest (h, w).

    Returns the batch :func:`~replication.data.dataset.collate_clips` returns, except that
    ``video`` is a (B, T', H, W, 3) uint8 tensor, ``box_size`` (B, 2) each clip's (h, w),
    ``flip`` (B,) bool, and ``crop_size`` the grid's S.
    """
    boxes = [it["video"] for it in items]
    height, width = max(b.shape[1] for b in boxes), max(b.shape[2] for b in boxes)
    padded = [F.pad(b, (0, 0, 0, width - b.shape[2], 0, height - b.shape[1])) for b in boxes]
    sizes = {it["crop_size"] for it in items}
    if len(sizes) != 1:
        raise ValueError(f"one batch holds clips of crop sizes {sorted(sizes)}")
    return {
        "video": torch.stack(padded),  # (B, T', H, W, 3) uint8
        "box_size": torch.tensor([b.shape[1:3] for b in boxes]),
        "flip": torch.tensor([it["flip"] for it in items]),
        "crop_size": sizes.pop(),
        "label": torch.stack([it["label"] for it in items]),
        "index": torch.tensor([it["index"] for it in items]),
        "grid": torch.tensor([it["grid"] for it in items]),
        "valid": torch.tensor([it["valid"] for it in items]),
        "bad": [b for it in items for b in it["bad"]],
    }


def resample_on_device(
    batch: dict[str, Any], device: torch.device | str, slowfast_alpha: int | None = None
) -> dict[str, Any]:
    """Finish a :func:`collate_boxes` batch on ``device``: scale, flip and normalise each clip.

    Returns the batch with ``video`` as the worker path's (B, 3, T', S, S) float clips on
    ``device`` (SlowFast's [slow, fast] pathways with ``slowfast_alpha``) and without the box
    keys; the other entries stay where they were.
    """
    boxes = batch["video"].to(device, non_blocking=True)
    clips = []
    for box, (h, w), flip in zip(boxes, batch["box_size"].tolist(), batch["flip"].tolist(),
                                 strict=True):  # fmt: skip
        clips.append(resample_box(box[:, :h, :w], flip, batch["crop_size"]))
    video: Any = torch.stack(clips)  # (B, 3, T', S, S)
    if slowfast_alpha:
        pathways = [slowfast_pathways(clip, slowfast_alpha) for clip in clips]
        video = [torch.stack([p[i] for p in pathways]) for i in range(2)]
    rest = {k: v for k, v in batch.items() if k not in ("video", "box_size", "flip", "crop_size")}
    return {**rest, "video": video}
