"""Sub-batch BatchNorm (Wu et al., CVPR 2020, section 3.3): BN statistics over a fixed clip count.

Multigrid keeps the number of clips BatchNorm pools fixed (``bn_base_size``) while the long cycle
scales the mini-batch; a process holding k times that many clips normalises k groups apart.
Switching a model between plain, sub-batch and sync BN is :mod:`replication.model.bn_modes`;
recomputing statistics before evaluation is :mod:`replication.model.precise_bn`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

STAT_KEYS = ("running_mean", "running_var", "num_batches_tracked")


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


def aggregate_sub_bn_stats(model: nn.Module) -> int:
    """Aggregate every SubBatchNorm3d of ``model``; returns how many there were."""
    subs = [m for m in model.modules() if isinstance(m, SubBatchNorm3d)]
    for sub in subs:
        sub.aggregate_stats()
    return len(subs)
