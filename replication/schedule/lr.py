"""Learning rate at any fractional epoch: step or cosine policy, then linear warmup.

Reproduces PySlowFast's ``get_lr_at_epoch``: the policy LR is looked up by epoch, and during
warmup the LR ramps linearly from ``warmup_start_lr`` to the *policy LR at the end of warmup*
(which, under a long cycle, already includes the batch factor of the first shape; warmup is not
rescaled). The one addition is the cosine policy under a long cycle, which PySlowFast cannot run;
its semantics are documented on :class:`LRSchedule`.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class LRSchedule:
    """Everything needed to evaluate the LR; built by :func:`replication.schedule.build_schedule`.

    Attributes:
        policy: ``"steps"`` (``base_lr * lrs[stage]``) or ``"cosine"``.
        base_lr: LR at the base batch size.
        steps: epochs where stages start (after the multigrid rewrite); duplicates mark empty
            stages, exactly as PySlowFast produces them.
        lrs: relative LR per stage (``"steps"`` only; includes the long-cycle batch factor).
        max_epoch: training length in epochs.
        warmup_epochs: linear warmup length in epochs (not rescaled by multigrid).
        warmup_start_lr: LR at epoch 0.
        cosine_end_lr: LR reached at the end of a cosine schedule.
        cosine_factors: cosine under a long cycle only: the batch factor of each long-cycle phase,
            aligned with ``phase_ends``. The LR is ``factor * cosine(progress)`` (linear scaling).
        phase_ends: end epoch of each long-cycle phase (cosine under a long cycle only).
        progress: cosine under a long cycle only: the fraction of all training iterations done
            at each integer epoch ``0..max_epoch``. Cosine decays over iterations, not epochs,
            because a coarse epoch holds up to 8x fewer iterations than a fine one; measured in
            iterations (equivalently compute), the decay matches the baseline's.
    """

    policy: Literal["steps", "cosine"]
    base_lr: float
    steps: tuple[int, ...]
    lrs: tuple[float, ...] | None
    max_epoch: int
    warmup_epochs: float
    warmup_start_lr: float
    cosine_end_lr: float
    cosine_factors: tuple[int, ...] | None = None
    phase_ends: tuple[int, ...] | None = None
    progress: tuple[float, ...] | None = None

    def stage_index(self, epoch: float) -> int:
        """Index of the stage holding ``epoch`` (PySlowFast's ``get_step_index``)."""
        bounds = (*self.steps, self.max_epoch)
        for index, step in enumerate(bounds):
            if epoch < step:
                return index - 1
        return len(bounds) - 2

    def policy_lr(self, epoch: float) -> float:
        """LR of the policy alone, without warmup."""
        if self.policy == "steps":
            assert self.lrs is not None
            return self.lrs[self.stage_index(epoch)] * self.base_lr
        if self.progress is None:
            return self._cosine(epoch / self.max_epoch)
        assert self.phase_ends is not None and self.cosine_factors is not None
        phase = min(bisect.bisect_right(self.phase_ends, epoch), len(self.phase_ends) - 1)
        return self.cosine_factors[phase] * self._cosine(self._progress_at(epoch))

    def at(self, epoch: float) -> float:
        """Absolute LR at a fractional epoch, warmup included.

        >>> lr = LRSchedule("steps", 0.1, (0, 10), (1.0, 0.1), 20, 2.0, 0.01, 0.0)
        >>> [round(lr.at(e), 6) for e in (0, 1, 2, 9.99, 10, 19)]
        [0.01, 0.055, 0.1, 0.1, 0.01, 0.01]
        """
        if epoch < self.warmup_epochs:
            end = self.policy_lr(self.warmup_epochs)
            slope = (end - self.warmup_start_lr) / self.warmup_epochs
            return epoch * slope + self.warmup_start_lr
        return self.policy_lr(epoch)

    def _cosine(self, fraction: float) -> float:
        span = self.base_lr - self.cosine_end_lr
        return self.cosine_end_lr + span * (math.cos(math.pi * fraction) + 1.0) * 0.5

    def _progress_at(self, epoch: float) -> float:
        assert self.progress is not None
        whole = min(math.floor(epoch), len(self.progress) - 2)
        whole = max(whole, 0)
        lo, hi = self.progress[whole], self.progress[whole + 1]
        return min(lo + (hi - lo) * (epoch - whole), 1.0)
