"""BatchNorm under multigrid (Wu et al., CVPR 2020): sub-batch BN, mode switches, precise BN.

Multigrid keeps the number of clips BatchNorm pools fixed (``bn_base_size``) while the long cycle
scales the mini-batch, so each phase asks (:class:`replication.schedule.BNMode`) for plain BN,
sub-batch BN (``splits`` groups per process) or sync BN (``sync_devices`` processes pooled).
:func:`set_bn_mode` switches a built model in place, keeping its affine Parameters and running
statistics; :func:`normal_state_dict` saves every layer in plain form, so a checkpoint loads into
any mode. Only affine 3-D BN with running statistics is supported (our backbones use no other).
fvcore enters here for precise BN only (``flops.py`` uses it for FLOP counts).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:
    from replication.schedule.build import BNMode

_STAT_KEYS = ("running_mean", "running_var", "num_batches_tracked")


class SubBatchNorm3d(nn.Module):
    """BatchNorm3d whose training statistics cover ``num_splits`` groups of clips separately.

    A process holding ``k = num_splits`` times ``bn_base_size`` clips normalises each group with its
    own mean and variance, as if each group sat on its own GPU, so the statistics cover the same
    number of clips in every long-cycle phase. One affine ``weight``/``bias`` (``num_features``
    each) is shared by all groups.

    Group assignment: training reshapes ``(N, C, T, H, W)`` to ``(N/k, C*k, T, H, W)``. Clip ``n``,
    channel ``c`` lands in BN channel ``(n % k) * C + c`` (the flat index ``n*C + c`` equals
    ``(n // k) * C*k + (n % k) * C + c``), so **clip n belongs to group n % k**: the groups are
    interleaved ``{j, j+k, j+2k, ...}``, not contiguous blocks. ``split_bn.running_*`` viewed as
    ``(k, C)`` holds group ``j``'s statistics in row ``j``.

    Eval uses ``bn``, a plain BatchNorm3d(C) that training never touches. Its statistics must be
    rebuilt from the split statistics (:meth:`aggregate_stats`) before every evaluation and every
    checkpoint; otherwise eval normalises with the initial (0, 1) or an old phase's statistics and
    the outputs degenerate (X3D-Multigrid issue #8). PySlowFast relies on the trainer calling
    ``aggregate_sub_bn_stats`` after each epoch; here a training forward also marks the module
    ``stats_stale``, and an eval forward or ``state_dict()`` on a stale module aggregates first,
    so that pitfall cannot occur.

    Args:
        num_features: channels C.
        num_splits: groups k; the per-process batch must be divisible by it.
        eps: added to the variance, as in BatchNorm3d.
        momentum: running-statistics momentum, or None for a cumulative average.
        device: where the parameters and buffers are created.
        dtype: their dtype.
    """

    def __init__(
        self, num_features: int, num_splits: int, eps: float = 1e-5,
        momentum: float | None = 0.1, *, device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        if num_splits < 1:
            raise ValueError(f"SubBatchNorm3d needs num_splits >= 1, got {num_splits}")
        c, k, factory = num_features, num_splits, {"device": device, "dtype": dtype}
        self.num_features, self.num_splits, self.eps = c, k, eps
        self.weight = nn.Parameter(torch.ones(c, **factory))
        self.bias = nn.Parameter(torch.zeros(c, **factory))
        self.split_bn = _GroupBatchNorm3d(c * k, eps, momentum, affine=False, **factory)
        object.__setattr__(self.split_bn, "owner", self)  # not a child: no module cycle
        self.bn = nn.BatchNorm3d(c, eps, momentum, affine=False, **factory)
        self.stats_stale = False  # split statistics moved since the last aggregation
        self.register_state_dict_pre_hook(_aggregate_before_save)
        self.register_load_state_dict_post_hook(_fresh_after_load)

    @property
    def momentum(self) -> float | None:
        """Momentum of the running statistics (shared by ``split_bn`` and ``bn``)."""
        return self.split_bn.momentum

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``x`` of shape (N, C, T, H, W); in training, N must be divisible by k.

        Raises:
            ValueError: training with N not divisible by ``num_splits``.
        """
        if not self.training:
            if self.stats_stale:
                self.aggregate_stats()
            return F.batch_norm(
                x, self.bn.running_mean, self.bn.running_var, self.weight, self.bias,
                training=False, eps=self.eps,
            )  # fmt: skip
        n, c, k = x.shape[0], x.shape[1], self.num_splits
        if n % k:
            raise ValueError(
                f"SubBatchNorm3d: batch of N={n} clips is not divisible by num_splits k={k}"
            )
        # (N/k, C*k, T, H, W); the module call keeps BN's forward hooks (fvcore's precise BN).
        y = self.split_bn(x.reshape(n // k, c * k, *x.shape[2:]))
        self.stats_stale = True
        return y.reshape(x.shape)

    @torch.no_grad()
    def aggregate_stats(self) -> None:
        """Set ``bn``'s statistics to those of the union of the k equal-sized groups.

        mean = mean_j(m_j); var = mean_j(v_j) + mean_j((m_j - mean)^2) (law of total variance).
        """
        k, c = self.num_splits, self.num_features
        means = self.split_bn.running_mean.view(k, c)
        variances = self.split_bn.running_var.view(k, c)
        mean = means.mean(0)
        self.bn.running_mean.copy_(mean)
        self.bn.running_var.copy_(variances.mean(0) + (means - mean).square().mean(0))
        self.bn.num_batches_tracked.copy_(self.split_bn.num_batches_tracked)
        self.stats_stale = False

    def extra_repr(self) -> str:  # noqa: D102
        return f"{self.num_features}, num_splits={self.num_splits}, eps={self.eps}"


class _GroupBatchNorm3d(nn.BatchNorm3d):
    """The C*k-channel BN inside :class:`SubBatchNorm3d`, applying its owner's C-channel affine.

    The shared affine goes into the BN kernel, tiled over the groups (autograd sums the tiles'
    gradients into the shared Parameters): a separate multiply-add after the normalisation costs
    two more passes over the activations, forward and backward, which made sub-BN steps about
    15 % slower than plain BN at the same shape on a CPU. Its own statistics and state-dict keys
    are those of a plain ``BatchNorm3d(C*k, affine=False)``.
    """

    owner: SubBatchNorm3d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise the (N/k, C*k, ...) view with batch statistics and the tiled affine."""
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if momentum is None:  # cumulative moving average, as BatchNorm3d
                momentum = 1.0 / float(self.num_batches_tracked)
        k = self.owner.num_splits
        return F.batch_norm(
            x, self.running_mean, self.running_var,
            self.owner.weight.repeat(k), self.owner.bias.repeat(k),
            training=self.training or not self.track_running_stats,
            momentum=0.0 if momentum is None else momentum, eps=self.eps,
        )  # fmt: skip


def _aggregate_before_save(module: SubBatchNorm3d, prefix: str, keep_vars: bool) -> None:
    if module.stats_stale:
        module.aggregate_stats()


def _fresh_after_load(module: SubBatchNorm3d, incompatible_keys: Any) -> None:
    # Saved sub-BN state is aggregated on save (hook above), so the loaded ``bn`` is current.
    module.stats_stale = False


# --------------------------------------------------------------------------- model-level API


def aggregate_sub_bn_stats(model: nn.Module) -> int:
    """Aggregate every SubBatchNorm3d of ``model``; returns how many there were."""
    subs = [m for m in model.modules() if isinstance(m, SubBatchNorm3d)]
    for sub in subs:
        sub.aggregate_stats()
    return len(subs)


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
    return {key: getattr(module, key) for key in _STAT_KEYS}


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
            stats = {key: state.pop(p + key) for key in _STAT_KEYS}
            state.update({p + k: v for k, v in _sub_layout(stats, sub.num_splits).items()})
    model.load_state_dict(state, strict=strict)


def _prefix(module_name: str) -> str:
    return module_name + "." if module_name else ""


# --------------------------------------------------------------------------- precise BN


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
    with warnings.catch_warnings():  # fvcore.nn runs the deprecated torch.jit.script on import
        warnings.filterwarnings("ignore", r".*torch\.jit\.script", FutureWarning)
        warnings.filterwarnings("ignore", r".*torch\.jit\.script", DeprecationWarning)
        from fvcore.nn.precise_bn import update_bn_stats

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
        (m, m.momentum, {k: getattr(m, k).clone() for k in _STAT_KEYS}, set(m._forward_pre_hooks))
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
