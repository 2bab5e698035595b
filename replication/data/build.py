"""From a config to data sets: annotations, frame source (cache or files), clip data set.

The one place that turns ``data.*`` keys into objects, so the trainer, the loader benchmark and
the checks build data the same way.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from replication.config import RunConfig
from replication.data.annotations import VideoTable, load_table
from replication.data.clip_labels import video_spans
from replication.data.copies import load_copies
from replication.data.dataset import ClipDataset
from replication.data.frames import DecodedFrames, FrameCache, FrameSource, estimated_cache_bytes
from replication.data.transforms import Grid

Split = Literal["train", "val"]


def annotation_path(cfg: RunConfig, split: Split) -> Path:
    """Annotation file (or folder) of ``split``."""
    return Path(cfg.data.train_annotations if split == "train" else cfg.data.val_annotations)


def load_split(cfg: RunConfig, split: Split) -> VideoTable:
    """Read the annotations of ``split`` with the configured format and video root."""
    data = cfg.data
    return load_table(
        annotation_path(cfg, split),
        None if data.format == "auto" else data.format,
        data.video_root or None,
    )


def cache_short_side(cfg: RunConfig) -> int:
    """Frames are cached at the largest short side any grid or test view resizes to."""
    return max(cfg.data.train_jitter_scales[1], cfg.data.test_crop_size)


def frame_source(
    cfg: RunConfig,
    table: VideoTable,
    split: Split,
    progress: bool = True,
    cache: str | None = None,
    poll: Callable[[], None] | None = None,
) -> FrameSource:
    """The decoded-frame cache when configured (or when it fits, for 'auto'), else the files.

    From the files, training reads the ``data.copies`` store: each grid the smallest copy that
    serves it (:mod:`replication.data.copies`). Evaluation always reads the originals, so every
    variant is tested on the same pixels (a copy differs from the scaled original by a few grey
    levels), and the cache, built at the largest resize target, serves every grid itself.
    ``poll`` is called between videos while a cache is built; what it raises aborts the build.
    """
    mode = cache or cfg.data.cache
    short = cache_short_side(cfg)
    if mode == "auto":
        limit = cfg.data.cache_max_gb * 2**30
        mode = "on" if estimated_cache_bytes(table.records, short) <= limit else "off"
    if mode == "off":
        copies = None
        if split == "train" and cfg.data.copies:
            paths = [r.path for r in table.records]
            copies = load_copies(annotation_path(cfg, split), cfg.data.copies, paths)
        return DecodedFrames(table.records, short_side=short, copies=copies)
    root = Path(cfg.data.cache_dir) if cfg.data.cache_dir else _default_cache_root(cfg, split)
    if progress:
        print(f"frame cache: {root / split}", file=sys.stderr)
    return FrameCache.build(table.records, root / split, short, progress=progress, poll=poll)


def _default_cache_root(cfg: RunConfig, split: Split) -> Path:
    path = annotation_path(cfg, split)
    return (path if path.is_dir() else path.parent) / ".frame_cache"


def build_dataset(
    cfg: RunConfig,
    split: Split,
    *,
    slowfast_alpha: int | None = None,
    views: tuple[int, int] = (1, 1),
    progress: bool = True,
    cache: str | None = None,
    poll: Callable[[], None] | None = None,
) -> ClipDataset:
    """A training (``split='train'``) or evaluation clip data set for ``cfg``.

    Evaluation uses the base shape: ``data.num_frames`` at ``data.sampling_rate`` and the test
    crop, with ``views`` = (temporal clips, spatial crops) per video. Frames are chosen as
    ``data.temporal_sampling`` says. Training clips of annotations with action spans (Charades)
    are labelled by the spans they cover, evaluation clips by their video's labels, as the
    reference does.
    """
    table = load_split(cfg, split)
    train_spans = split == "train" and table.multi_label  # checked before any decoding
    spans = video_spans(table.records, str(annotation_path(cfg, split))) if train_spans else None
    source = frame_source(cfg, table, split, progress=progress, cache=cache, poll=poll)
    d = cfg.data
    eval_grid = Grid(d.num_frames, d.test_crop_size, d.sampling_rate, d.sampling_rate,
                     d.test_crop_size, d.test_crop_size)  # fmt: skip
    return ClipDataset(
        source,
        [r.labels for r in table.records],
        len(table.class_names),
        mode="train" if split == "train" else "eval",
        multi_label=table.multi_label,
        slowfast_alpha=slowfast_alpha,
        eval_grid=eval_grid,
        views=views,
        random_flip=d.random_flip,
        temporal_sampling=d.temporal_sampling,
        spans=spans,
        resample_on=d.resample_on if split == "train" else "worker",
    )
