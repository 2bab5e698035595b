"""Inference cost per clip, the x-axis of the paper's speed/accuracy comparisons (Wu et al. 2020).

fvcore (through :mod:`replication.model.fvcore_bridge`) counts them. Counts follow
fvcore's convention, which is also the paper's: one multiply-add is one FLOP. fvcore skips the
ops it has no formula for (pooling, elementwise add, X3D's Swish and sigmoid); they are a small
fraction of a video network's cost and their warnings are silenced here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from replication.model.fvcore_bridge import FlopCountAnalysis
from replication.model.spec import BackboneSpec, model_input_example

__all__ = ["flops_table", "gflops_per_clip"]


def gflops_per_clip(model: nn.Module, example: torch.Tensor | list[torch.Tensor]) -> float:
    """Forward GFLOPs of ``model`` on one clip of ``example``'s shape.

    The model is traced in eval mode, so BatchNorm variants that need several clips in training
    mode (sub-batch BN; PySlowFast issue #224 crashed counting FLOPs with batch 1) see a
    single clip safely; every module's training flag is restored afterwards.

    Args:
        model: a model from :func:`replication.model.builders.build_model`.
        example: an input of any batch size (see ``model_input_example``); only its first clip
            is used.

    Returns:
        GFLOPs (1e9 multiply-adds) of one forward pass on one clip.
    """
    clip = [x[:1] for x in example] if isinstance(example, list) else example[:1]
    with _eval_mode(model), torch.no_grad():
        analysis = FlopCountAnalysis(model, (clip,))
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        analysis.tracer_warnings("none")
        return analysis.total() / 1e9


def flops_table(
    model: nn.Module, cfg: BackboneSpec, shapes: Sequence[tuple[int, int]]
) -> list[dict[str, float]]:
    """GFLOPs per clip of one model on each grid shape, e.g. the shapes of a multigrid schedule.

    Args:
        model: built from ``cfg``.
        cfg: decides the input structure (a tensor, or ``[slow, fast]`` for SlowFast).
        shapes: ``(num_frames, crop_size)`` pairs.

    Returns:
        One row per shape: ``{"num_frames": T, "crop_size": S, "gflops": ...}``.
    """
    return [
        {
            "num_frames": num_frames,
            "crop_size": crop_size,
            "gflops": gflops_per_clip(model, model_input_example(cfg, 1, num_frames, crop_size)),
        }
        for num_frames, crop_size in shapes
    ]


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    # Restore each module's own flag: a caller may have frozen some (e.g. BN) on purpose.
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in flags:
            module.training = training
