"""A training clip's multi-label target from the action spans it covers (Charades).

PySlowFast reads Charades as frame lists with labels per frame and gives a training clip the
union of the labels of every frame from its first sampled frame to its last (``charades.py``,
``utils.aggregate_labels``); validation and test clips get the video-level labels instead. This
suite reads the official CSV, whose actions are time spans, so frame ``j`` of a video decoded
into ``n`` frames is placed at ``j * duration / n`` seconds (``duration`` is the CSV's
``length``), and a clip gets every class whose span ``[start, end]`` (both ends included)
contains one of the frames it covers. The frames come from the clip's own view, so the label
follows the grid: a T/4 clip at a long stride and a full-size clip are each labelled by what
they cover.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from replication.config import ConfigError
from replication.data.video_table import ActionSpan, VideoRecord

VideoSpans = tuple[tuple[ActionSpan, ...], float]  # a video's spans and its length in seconds


def clip_classes(
    spans: Sequence[ActionSpan], duration_s: float, num_video_frames: int, frames: Sequence[int]
) -> tuple[int, ...]:
    """Sorted classes of the ``spans`` that contain a frame from ``min(frames)`` to ``max(frames)``.

    Args:
        spans: the video's actions.
        duration_s: the video's length; frame ``j`` is at ``j * duration_s / num_video_frames``.
        num_video_frames: frames the video decoded into.
        frames: the clip's frame indices (any order, repeats allowed).

    >>> spans = [ActionSpan(3, 0.0, 1.0), ActionSpan(5, 2.5, 4.0)]
    >>> clip_classes(spans, 10.0, 40, [0, 2, 4]), clip_classes(spans, 10.0, 40, [8, 10])
    ((3,), (5,))
    """
    times = np.arange(min(frames), max(frames) + 1) * (duration_s / num_video_frames)
    found = {s.label for s in spans if np.any((times >= s.start_s) & (times <= s.end_s))}
    return tuple(sorted(found))


def video_spans(records: Sequence[VideoRecord], source: str) -> list[VideoSpans] | None:
    """Each record's spans and length, or None when no record has spans (labels are per video).

    Raises:
        ConfigError: naming ``source`` and the first video with spans but no length.
    """
    if not any(r.spans for r in records):
        return None
    out: list[VideoSpans] = []
    for r in records:
        if r.spans and r.duration_s is None:
            raise ConfigError(
                "length", f"video {r.path.stem} has actions but no length to place them", source
            )
        out.append((r.spans, r.duration_s or 0.0))
    return out
