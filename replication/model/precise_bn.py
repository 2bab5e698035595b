"""Precise BN: BatchNorm statistics recomputed as population averages before evaluation.

PySlowFast runs it on eval and checkpoint epochs, at the current long-cycle shape without short
cycles; under multigrid the running statistics would otherwise mix the shapes a phase trained
on. fvcore computes the averages (through :mod:`replication.model.fvcore_bridge`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from torch import nn

from replication.model.fvcore_bridge import update_bn_stats
from replication.model.sub_batch_norm import STAT_KEYS, SubBatchNorm3d, aggregate_sub_bn_stats


def precise_bn(
    model: nn.Module,
    batches: Iterable[Any],
    num_batches: int,
    to_input: Callable[[Any], Any] | None = None,
) -> None:
    """Recompute BN running statistics as population averages over ``num_batches`` batches.

    fvcore's ``update_bn_stats``, as PySlowFast runs it on eval and checkpoint epochs, on batches
    at the current long-cycle shape without short cycles; a sized ``batches`` gives at most
    ``len(batches)`` (the reference's rule). The model runs in training mode, then gets its modes
    back.

    fvcore finds BN layers by type, so it sees a SubBatchNorm3d's two inner BatchNorm3d: its
    ``split_bn`` gets precise per-group statistics (the forward keeps per-group normalisation,
    as in training), while ``bn``, unused in training, would be reset to zeros; it is kept out of
    the pass (put in eval mode, which fvcore skips) and re-aggregated afterwards.

    Args:
        model: the network (not a DDP wrapper: batches are per process, like the reference's).
        batches: an iterable of batches.
        num_batches: how many batches to use.
        to_input: maps a batch to the model's input; identity when None.

    Raises:
        ValueError: fewer batches than requested; the BN statistics are then left unchanged.
    """
    if hasattr(batches, "__len__"):
        num_batches = min(num_batches, len(batches))
    if num_batches < 1:
        raise ValueError(f"precise BN needs at least one batch, got num_batches={num_batches}")
    modes = {m: m.training for m in model.modules()}
    model.train()
    for sub in model.modules():
        if isinstance(sub, SubBatchNorm3d):
            sub.bn.eval()
    restore = _bn_snapshot(model)
    try:
        update_bn_stats(model, _model_inputs(batches, num_batches, to_input), num_batches)
    except BaseException:
        restore()
        raise
    finally:
        for m, training in modes.items():
            m.training = training
    aggregate_sub_bn_stats(model)


def _model_inputs(
    batches: Iterable[Any], num_batches: int, to_input: Callable[[Any], Any] | None
) -> Iterator[Any]:
    count = 0
    for batch in itertools.islice(batches, num_batches):
        count += 1
        yield batch if to_input is None else to_input(batch)
    if count < num_batches:  # fvcore asserts too, but only after leaving its hooks behind
        raise ValueError(f"precise BN needs {num_batches} batches, the iterable gave {count}")


def _bn_snapshot(model: nn.Module) -> Callable[[], None]:
    """A callback that undoes a failed fvcore pass: momentum 1.0, partial stats, its pre-hooks."""
    saved = [
        (m, m.momentum, {k: getattr(m, k).clone() for k in STAT_KEYS}, set(m._forward_pre_hooks))
        for m in model.modules()
        if isinstance(m, nn.BatchNorm3d | nn.SyncBatchNorm)
    ]

    def restore() -> None:
        for m, momentum, stats, hooks in saved:
            m.momentum = momentum
            for key, value in stats.items():
                setattr(m, key, value)
            for hook_id in set(m._forward_pre_hooks) - hooks:
                del m._forward_pre_hooks[hook_id]

    return restore
