"""BatchNorm mode switches under multigrid, and checkpoints that load into any mode.

Each long-cycle phase asks (:class:`replication.schedule.BNMode`) for plain BN, sub-batch BN
(``splits`` groups per process) or sync BN (``sync_devices`` processes pooled).
:func:`set_bn_mode` switches a built model in place, keeping its affine Parameters and running
statistics; :func:`normal_state_dict` saves every layer in plain form, so a checkpoint loads into
any mode. Only affine 3-D BN with running statistics is supported (our backbones use no other).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
from torch import nn

from replication.model.sub_batch_norm import STAT_KEYS, SubBatchNorm3d

if TYPE_CHECKING:
    from replication.schedule import BNMode


def set_bn_mode(
    model: nn.Module,
    mode: BNMode,
    world_size: int,
    *,
    process_group: dist.ProcessGroup | None = None,
) -> None:
    """Switch every 3-D BN layer of ``model`` to ``mode`` in place, keeping what it learned.

    Each BatchNorm3d, SubBatchNorm3d or SyncBatchNorm child is replaced by the module for
    ``mode``, which reuses the old ``weight`` and ``bias`` Parameter objects (optimizer state
    stays valid) and takes the running statistics and ``num_batches_tracked``: aggregated when
    leaving sub-BN, tiled over the splits when entering it (PySlowFast's ``normal_to_sub_bn``).
    Layers already in the wanted form are kept. Rewrap a DDP wrapper afterwards (stale buffers).

    Sub-BN with ``splits`` 1 is plain BN. Sync BN pools ``min(sync_devices, world_size)``
    processes (PySlowFast cannot sync more devices than it has; we cap rather than fail). On one
    process, or when that cap is 1, the layers become plain BatchNorm3d, never SyncBatchNorm, so
    their statistics cover only the per-process batch, fewer clips than ``bn_base_size``. With a
    cap below the world size, consecutive ranks form the groups (``dist.new_subgroups``; one
    node's ranks under the usual launchers), as PySlowFast's ``NaiveSyncBatchNorm3d`` does:
    pooling the whole world would change the BN batch size, the quantity multigrid holds fixed.
    Creating groups is collective (every rank calls this at the same phase change); pass
    ``process_group`` to reuse one made earlier.

    Args:
        model: the network (not a DDP wrapper); BN layers must be affine with running stats.
        mode: the phase's BN mode.
        world_size: number of training processes.
        process_group: the sync group to use instead of creating one.

    Raises:
        ValueError: a multi-process sync mode without a matching initialised process group,
            a world size not divisible by the sync group size, or an unsupported BN layer.
    """
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    kind, splits, group = mode.kind, mode.splits, None
    if kind == "sub" and splits <= 1:
        kind = "batch"
    if kind == "sync":
        kind, group = _sync_group(world_size, mode.sync_devices, process_group)
    for parent, name, old in _bn_children(model):
        if not _is_mode(old, kind, splits, group):
            setattr(parent, name, _convert(old, kind, splits, group))


def _sync_group(
    world_size: int, sync_devices: int, process_group: dist.ProcessGroup | None
) -> tuple[str, dist.ProcessGroup | None]:
    """("sync", its group, None meaning the whole world) or ("batch", None) on one process."""
    devices = min(sync_devices, world_size)
    if devices <= 1:
        return "batch", None
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() != world_size:
        raise ValueError(f"sync BN needs an initialised process group of world_size={world_size}")
    if process_group is not None or devices == world_size:
        return "sync", process_group
    if world_size % devices:
        raise ValueError(f"world_size={world_size} is not divisible by sync_devices={devices}")
    group, _ = dist.new_subgroups(group_size=devices)
    return "sync", group


def _bn_children(model: nn.Module) -> list[tuple[nn.Module, str, nn.Module]]:
    """(parent, attribute, module) of every BN-family layer, not entering sub-BN's inner BNs."""
    found = []
    for parent in model.modules():
        if isinstance(parent, SubBatchNorm3d):
            continue
        for name, child in parent.named_children():
            if isinstance(child, SubBatchNorm3d | nn.BatchNorm3d | nn.SyncBatchNorm):
                found.append((parent, name, child))
    return found


def _is_mode(module: nn.Module, kind: str, splits: int, group: dist.ProcessGroup | None) -> bool:
    if kind == "sub":
        return isinstance(module, SubBatchNorm3d) and module.num_splits == splits
    if kind == "sync":
        return isinstance(module, nn.SyncBatchNorm) and module.process_group is group
    return type(module) is nn.BatchNorm3d


def _plain_stats(module: nn.Module) -> dict[str, torch.Tensor]:
    """Running statistics of a BN-family layer as a plain BatchNorm3d holds them."""
    if isinstance(module, SubBatchNorm3d):
        module.aggregate_stats()
        stats = dict(module.bn.state_dict())
        stats["num_batches_tracked"] = module.split_bn.num_batches_tracked  # as sub_to_normal_bn
        return stats
    if not (module.affine and module.track_running_stats):
        raise ValueError(f"unsupported BN layer (needs affine and running stats): {module}")
    return {key: getattr(module, key) for key in STAT_KEYS}


def _sub_layout(stats: dict[str, torch.Tensor], num_splits: int) -> dict[str, torch.Tensor]:
    """Plain statistics in SubBatchNorm3d's state-dict layout: tiled over the splits, aggregated."""
    out = {f"bn.{key}": value for key, value in stats.items()}
    for key, value in stats.items():
        out[f"split_bn.{key}"] = value.repeat(num_splits) if value.dim() else value
    return out


@torch.no_grad()
def _convert(old: nn.Module, kind: str, splits: int, group: dist.ProcessGroup | None) -> nn.Module:
    stats = _plain_stats(old)
    args = (old.num_features, old.eps, old.momentum)
    factory: dict[str, Any] = {"device": stats["running_mean"].device, "dtype": old.weight.dtype}
    new: nn.Module
    if kind == "sub":
        new = SubBatchNorm3d(old.num_features, splits, old.eps, old.momentum, **factory)
        stats = _sub_layout(stats, splits)
    elif kind == "sync":
        new = nn.SyncBatchNorm(*args, process_group=group, **factory)
    else:
        new = nn.BatchNorm3d(*args, **factory)
    new.weight, new.bias = old.weight, old.bias  # the same Parameters: optimizer state stays valid
    new.load_state_dict({"weight": old.weight, "bias": old.bias, **stats})
    new.train(old.training)
    return new


# --------------------------------------------------------------------------- checkpoints


def normal_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model.state_dict()`` with every SubBatchNorm3d written as a plain BatchNorm3d.

    Sub-BN layers are aggregated first and appear as ``weight, bias, running_mean, running_var,
    num_batches_tracked``; the split tensors are dropped (PySlowFast's ``sub_to_normal_bn``). A
    checkpoint therefore does not depend on the BN mode of the phase that wrote it. Sync BN
    already has the plain layout.
    """
    subs = {_prefix(name): m for name, m in model.named_modules() if isinstance(m, SubBatchNorm3d)}
    inner = tuple(p + child for p in subs for child in ("split_bn.", "bn."))
    out: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        if inner and key.startswith(inner):
            continue
        out[key] = value
        owner = key.removesuffix("bias")
        if key.endswith("bias") and owner in subs:
            out.update({owner + k: v for k, v in _plain_stats(subs[owner]).items()})
    return out


def load_normal_state_dict(
    model: nn.Module, state: dict[str, torch.Tensor], strict: bool = True
) -> None:
    """Load a :func:`normal_state_dict` into ``model`` whatever its current BN mode.

    Plain statistics are tiled over the splits of each SubBatchNorm3d (and also set as its
    aggregated ``bn``), so eval outputs match those of the saving model exactly.
    """
    state = dict(state)
    for name, sub in model.named_modules():
        p = _prefix(name)
        if isinstance(sub, SubBatchNorm3d) and p + "running_mean" in state:
            stats = {key: state.pop(p + key) for key in STAT_KEYS}
            state.update({p + k: v for k, v in _sub_layout(stats, sub.num_splits).items()})
    model.load_state_dict(state, strict=strict)


def _prefix(module_name: str) -> str:
    return module_name + "." if module_name else ""
