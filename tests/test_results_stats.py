from __future__ import annotations

import math
import random

import pytest

from replication.results.stats import bootstrap_ci


def test_two_values_have_the_exact_bootstrap_distribution():
    # Resampled means of [0, 1] are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4, so the 2.5 %
    # and 97.5 % quantiles are exactly 0 and 1.
    est = bootstrap_ci([0.0, 1.0], resamples=20_000, seed=3)
    assert (est.mean, est.low, est.high, est.n) == (0.5, 0.0, 1.0, 2)


def test_one_value_has_no_interval():
    est = bootstrap_ci([71.5])
    assert (est.low, est.high, est.n) == (71.5, 71.5, 1)
    assert est.text() == "71.5"


def test_large_sample_matches_the_normal_interval():
    rng = random.Random(0)
    values = [rng.gauss(10.0, 2.0) for _ in range(400)]
    est = bootstrap_ci(values, resamples=4000, seed=0)
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    half = 1.96 * sd / math.sqrt(len(values))
    assert est.mean == pytest.approx(mean)
    assert est.high - est.mean == pytest.approx(half, rel=0.1)
    assert est.mean - est.low == pytest.approx(half, rel=0.1)


def test_seeded_bootstrap_is_reproducible_and_inside_the_data():
    values = [70.1, 72.4, 71.0]
    a, b = bootstrap_ci(values, seed=7), bootstrap_ci(values, seed=7)
    assert a == b
    assert min(values) <= a.low <= a.mean <= a.high <= max(values)
    assert a.text() == f"{a.mean:.1f} ± {max(a.high - a.mean, a.mean - a.low):.1f}"


def test_no_values_is_an_error():
    with pytest.raises(ValueError, match="no values"):
        bootstrap_ci([])
