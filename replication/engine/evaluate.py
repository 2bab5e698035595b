"""Evaluation: per-video scores from one or many views, then top-1/top-5 or mean AP.

A view's scores are its softmax (its sigmoid for multi-label data, Charades); a video's views
combine as ``test.ensemble`` says, as PySlowFast's ``TestMeter``: ``mean`` sums them (its
``sum``: the same ranking, so the same top-k and mAP), ``max`` takes each class's maximum over
the views (its Charades configs). Items the loader
marked invalid (undecodable videos) are left out and counted. With several processes each scores
its shard of (video, view) items, so one video's views may sit on different ranks: the partial
scores are gathered and combined the same way before any metric is computed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

import torch

Ensemble = Literal["mean", "max"]  # test.ensemble


def _combine(previous: torch.Tensor, scores: torch.Tensor, ensemble: Ensemble) -> torch.Tensor:
    return torch.maximum(previous, scores) if ensemble == "max" else previous + scores


@torch.no_grad()
def collect_scores(
    forward: Callable[[Any], torch.Tensor],
    batches: Iterable[dict[str, Any]],
    multi_label: bool,
    ensemble: Ensemble = "mean",
) -> tuple[dict[int, torch.Tensor], dict[int, torch.Tensor], int]:
    """Run ``forward`` over evaluation batches; returns per-video scores, labels, invalid count."""
    scores: dict[int, torch.Tensor] = {}
    labels: dict[int, torch.Tensor] = {}
    invalid = 0
    for batch in batches:
        logits = forward(batch["video"]).float().cpu()
        probs = logits.sigmoid() if multi_label else logits.softmax(-1)
        for i, (index, ok) in enumerate(
            zip(batch["index"].tolist(), batch["valid"].tolist(), strict=True)
        ):
            if not ok:
                invalid += 1
                continue
            if index in scores:
                scores[index] = _combine(scores[index], probs[i], ensemble)
            else:
                scores[index] = probs[i].clone()
                labels[index] = batch["label"][i]
    return scores, labels, invalid


def merge_scores(
    parts: list[tuple[dict[int, torch.Tensor], dict[int, torch.Tensor], int]],
    ensemble: Ensemble = "mean",
) -> tuple[dict[int, torch.Tensor], dict[int, torch.Tensor], int]:
    """Combine per-process results of :func:`collect_scores` (sum or max per video, as there).

    >>> a = ({0: torch.tensor([0.2, 0.8])}, {0: torch.tensor(1)}, 0)
    >>> b = ({0: torch.tensor([0.6, 0.4]), 1: torch.tensor([1.0, 0.0])},
    ...      {0: torch.tensor(1), 1: torch.tensor(0)}, 2)
    >>> scores, labels, invalid = merge_scores([a, b], ensemble="mean")
    >>> scores[0].tolist(), sorted(labels), invalid
    ([0.800000011920929, 1.2000000476837158], [0, 1], 2)
    """
    scores: dict[int, torch.Tensor] = {}
    labels: dict[int, torch.Tensor] = {}
    invalid = 0
    for part_scores, part_labels, part_invalid in parts:
        invalid += part_invalid
        for index, score in part_scores.items():
            if index in scores:
                scores[index] = _combine(scores[index], score, ensemble)
            else:
                scores[index] = score
                labels[index] = part_labels[index]
    return scores, labels, invalid


def gather_scores(
    scores: dict[int, torch.Tensor],
    labels: dict[int, torch.Tensor],
    invalid: int,
    ensemble: Ensemble = "mean",
) -> tuple[dict[int, torch.Tensor], dict[int, torch.Tensor], int]:
    """Every process's scores, merged (a collective when torch.distributed runs >1 process)."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return scores, labels, invalid
    parts: list = [None] * dist.get_world_size()
    dist.all_gather_object(parts, (scores, labels, invalid))
    return merge_scores(parts, ensemble)


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor, ks: tuple[int, ...] = (1, 5)) -> dict:
    """Top-k accuracy in percent for (N, C) scores and (N,) class labels.

    >>> topk_accuracy(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1]), ks=(1, 2))
    {'top1': 50.0, 'top2': 100.0}
    """
    ranked = scores.topk(min(max(ks), scores.shape[1]), dim=1).indices
    hits = ranked == labels.view(-1, 1)
    return {f"top{k}": 100.0 * hits[:, :k].any(1).float().mean().item() for k in ks}


def mean_average_precision(scores: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean over classes (with at least one positive) of average precision, in percent."""
    aps = []
    for c in range(scores.shape[1]):
        positives = targets[:, c] > 0
        if not positives.any():
            continue
        order = scores[:, c].argsort(descending=True)
        hit = positives[order].float()
        precision = hit.cumsum(0) / torch.arange(1, len(hit) + 1)
        aps.append((precision * hit).sum().item() / hit.sum().item())
    return 100.0 * sum(aps) / len(aps) if aps else 0.0


def evaluate(
    forward: Callable[[Any], torch.Tensor],
    batches: Iterable[dict[str, Any]],
    multi_label: bool,
    ensemble: Ensemble = "mean",
) -> dict[str, float]:
    """Metrics over all videos: ``top1``/``top5`` or ``mAP``, plus ``videos`` and ``invalid``.

    Multi-label mAP compares the combined view scores with the video-level labels. With several
    processes, every rank must call this (it gathers their scores) and every rank gets the
    metrics of the whole data set.
    """
    scores, labels, invalid = gather_scores(
        *collect_scores(forward, batches, multi_label, ensemble), ensemble
    )
    if not scores:
        return {"videos": 0, "invalid": invalid}
    order = sorted(scores)
    s = torch.stack([scores[i] for i in order])
    y = torch.stack([labels[i] for i in order])
    metrics = {"mAP": mean_average_precision(s, y)} if multi_label else topk_accuracy(s, y, (1, 5))
    return {**metrics, "videos": len(order), "invalid": invalid}
