"""Mean and 95 % bootstrap confidence interval over seeds, reproducible to the bit.

With three seeds a t-interval leans on a normality assumption nobody can check; the percentile
bootstrap makes none, and with a fixed generator seed the same runs always give the same interval,
so regenerated tables are byte-identical. With one seed there is no spread to resample: the
interval collapses to the value and the tables say ``n=1``. The sweep table's differences (a
point minus another line interpolated between two of its points) resample every side's seeds
on their own (:func:`difference_ci`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimate:
    """A mean over ``n`` values with its confidence interval [``low``, ``high``]."""

    mean: float
    low: float
    high: float
    n: int

    def text(self, digits: int = 1) -> str:
        """``mean ± half-width`` (or just the mean when n = 1).

        >>> Estimate(71.25, 70.0, 72.5, 3).text()
        '71.2 ± 1.2'
        >>> Estimate(71.25, 71.25, 71.25, 1).text()
        '71.2'
        """
        if self.n < 2:
            return f"{self.mean:.{digits}f}"
        half = max(self.high - self.mean, self.mean - self.low)
        return f"{self.mean:.{digits}f} ± {half:.{digits}f}"


def bootstrap_ci(
    values: Sequence[float], *, resamples: int = 10_000, level: float = 0.95, seed: int = 0
) -> Estimate:
    """Percentile bootstrap CI of the mean.

    Args:
        values: one number per seed.
        resamples: bootstrap resamples.
        level: coverage of the interval.
        seed: generator seed; fixed so the interval is identical on every call.

    Returns:
        The mean and the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of the resampled
        means.

    >>> bootstrap_ci([2.0, 2.0, 2.0])
    Estimate(mean=2.0, low=2.0, high=2.0, n=3)
    """
    data = np.asarray([float(v) for v in values], dtype=np.float64)
    if data.size == 0:
        raise ValueError("no values to average")
    mean = float(data.mean())
    if data.size == 1:
        return Estimate(mean, mean, mean, 1)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, data.size, size=(resamples, data.size))
    means = data[picks].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return Estimate(mean, float(low), float(high), int(data.size))


def difference_ci(
    values: Sequence[float],
    reference: Sequence[tuple[float, Sequence[float]]],
    *,
    resamples: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Percentile bootstrap CI of ``mean(values) - sum(weight * mean(sample))``.

    The difference between one point and a reference made of weighted seed means (a linear
    interpolation between two points of another line: weights ``1 - w`` and ``w``). Each sample
    is resampled on its own, every resample of each from one seeded generator, so the interval
    carries the spread of both sides and is identical on every call.

    Args:
        values: one number per seed of the point.
        reference: ``(weight, values)`` of each reference sample.
        resamples: bootstrap resamples.
        level: coverage of the interval.
        seed: generator seed.

    Returns:
        The difference of the means with its interval; ``n`` is the smallest sample, and with a
        single value anywhere the interval collapses to the difference (no spread to resample).

    >>> difference_ci([3.0, 3.0], [(0.5, [1.0, 1.0]), (0.5, [2.0, 2.0])])
    Estimate(mean=1.5, low=1.5, high=1.5, n=2)
    """
    samples = [np.asarray(values, dtype=np.float64)]
    samples += [np.asarray(v, dtype=np.float64) for _, v in reference]
    if any(s.size == 0 for s in samples):
        raise ValueError("no values to average")
    signs = [1.0, *(-w for w, _ in reference)]
    mean = float(sum(w * s.mean() for w, s in zip(signs, samples, strict=True)))
    n = min(s.size for s in samples)
    if n == 1:
        return Estimate(mean, mean, mean, 1)
    rng = np.random.default_rng(seed)
    diffs = np.zeros(resamples)
    for w, s in zip(signs, samples, strict=True):
        diffs += w * s[rng.integers(0, s.size, size=(resamples, s.size))].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(diffs, [alpha, 1.0 - alpha])
    return Estimate(mean, float(low), float(high), int(n))
