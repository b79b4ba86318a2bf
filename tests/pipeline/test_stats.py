"""Confidence intervals, the paired McNemar test and seed spreads behave as the textbook says."""

from __future__ import annotations

import doctest
import math

import numpy as np
from scipy import stats as scipy_stats

from pipeline import stats
from pipeline.stats import accuracy_with_ci, mcnemar_exact, seed_summary


def test_it_gives_a_bootstrap_interval_close_to_the_normal_approximation_at_large_n() -> None:
    correct = [True] * 240 + [False] * 160  # 0.6 over 400 items: normal half-width 1.96*sqrt(.24/400) = 0.048
    acc = accuracy_with_ci(correct)
    assert acc.accuracy == 0.6 and acc.n == 400 and acc.n_correct == 240
    assert abs((acc.high - acc.low) / 2 - 0.048) < 0.008
    assert acc.low < 0.6 < acc.high


def test_it_widens_the_interval_when_there_are_fewer_items() -> None:
    small = accuracy_with_ci([True] * 6 + [False] * 4)
    large = accuracy_with_ci([True] * 600 + [False] * 400)
    assert (small.high - small.low) > 3 * (large.high - large.low)


def test_it_covers_the_true_accuracy_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    covered = 0
    for i in range(120):
        sample = list(rng.random(200) < 0.7)
        acc = accuracy_with_ci(sample, n_resamples=500, seed=i)
        covered += acc.low <= 0.7 <= acc.high
    assert 0.88 <= covered / 120 <= 0.99


def test_it_reports_no_interval_for_no_items() -> None:
    acc = accuracy_with_ci([])
    assert acc.n == 0 and math.isnan(acc.accuracy) and math.isnan(acc.low)


def test_it_computes_the_exact_mcnemar_p_value_from_discordant_pairs() -> None:
    a = [True] * 10 + [False] * 2 + [True] * 30 + [False] * 8
    b = [False] * 10 + [True] * 2 + [True] * 30 + [False] * 8
    result = mcnemar_exact(a, b)
    assert (result.n, result.a_only, result.b_only) == (50, 10, 2)
    assert math.isclose(result.p_value, scipy_stats.binomtest(10, 12, 0.5).pvalue)
    assert math.isclose(result.p_value, 0.03857421875)


def test_it_refuses_mcnemar_on_different_items() -> None:
    try:
        mcnemar_exact([True, False], [True])
    except ValueError as exc:
        assert "same items" in str(exc)
    else:
        raise AssertionError("expected a ValueError")


def test_it_summarises_seeds_as_mean_and_sample_std() -> None:
    s = seed_summary([0.61, 0.65, 0.63])
    assert math.isclose(s.mean, 0.63) and math.isclose(s.std, 0.02) and s.n_seeds == 3
    assert seed_summary([0.5]).std == 0.0


def test_it_passes_its_doctests() -> None:
    result = doctest.testmod(stats)
    assert result.attempted >= 4 and result.failed == 0
