"""The statistics every accuracy the app shows carries: a bootstrap interval, a paired test, a seed spread.

A researcher cannot compare 0.62 with 0.58 without knowing n and the noise: each accuracy comes with a 95%
bootstrap confidence interval (scipy's `bootstrap`, percentile method, resampling items), two runs scored on the
*same* items are compared with the exact McNemar test (a binomial test on the discordant pairs, scipy's
`binomtest`), and a configuration trained with several seeds is summarised as mean ± sample standard deviation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy

__all__ = ["Accuracy", "McNemar", "SeedSummary", "accuracy_with_ci", "mcnemar_exact", "seed_summary"]

CONFIDENCE = 0.95
N_RESAMPLES = 2000


@dataclass(frozen=True)
class Accuracy:
    """An accuracy with its n and confidence interval (low, high); the interval is (nan, nan) when n is 0."""

    accuracy: float
    n: int
    n_correct: int
    low: float
    high: float
    confidence: float = CONFIDENCE

    def as_dict(self) -> dict[str, float | int]:
        return {"accuracy": self.accuracy, "n": self.n, "n_correct": self.n_correct, "ci_low": self.low,
                "ci_high": self.high, "confidence": self.confidence}


def accuracy_with_ci(correct: Sequence[bool], *, confidence: float = CONFIDENCE, n_resamples: int = N_RESAMPLES,
                     seed: int = 0) -> Accuracy:
    """Accuracy over items with a percentile bootstrap interval (items resampled with replacement; seeded, so a
    page shows the same interval on every load).

    >>> a = accuracy_with_ci([True] * 60 + [False] * 40)
    >>> a.accuracy, a.n, round(a.low, 2) <= 0.6 <= round(a.high, 2), 0.08 < a.high - a.low < 0.25
    (0.6, 100, True, True)
    >>> accuracy_with_ci([True, True]).low   # every resample is all-correct: the interval collapses
    1.0
    """
    values = np.asarray([bool(c) for c in correct], dtype=float)
    n, k = len(values), int(values.sum())
    if n == 0:
        return Accuracy(math.nan, 0, 0, math.nan, math.nan, confidence)
    if k in (0, n):  # no variation to resample: scipy's bootstrap warns and returns nan for a constant sample
        return Accuracy(k / n, n, k, k / n, k / n, confidence)
    res = _scipy.bootstrap((values,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                           method="percentile", random_state=np.random.default_rng(seed), vectorized=True)
    ci = res.confidence_interval
    return Accuracy(k / n, n, k, float(ci.low), float(ci.high), confidence)


@dataclass(frozen=True)
class McNemar:
    """Paired comparison of runs A and B on the same items: `a_only` items only A got right, `b_only` only B."""

    n: int
    a_only: int
    b_only: int
    p_value: float


def mcnemar_exact(a: Sequence[bool], b: Sequence[bool]) -> McNemar:
    """Exact two-sided McNemar test: under "A and B are equally good", each discordant item is a fair coin.

    >>> mcnemar_exact([True] * 10 + [False] * 10, [False] * 10 + [False] * 10).p_value < 0.01
    True
    >>> mcnemar_exact([True, False], [True, False]).p_value   # no discordant item: no evidence of a difference
    1.0
    """
    if len(a) != len(b):
        raise ValueError(f"McNemar needs the same items for both runs: {len(a)} vs {len(b)} results")
    a_only = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    b_only = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    discordant = a_only + b_only
    p = 1.0 if discordant == 0 else float(_scipy.binomtest(a_only, discordant, 0.5).pvalue)
    return McNemar(n=len(a), a_only=a_only, b_only=b_only, p_value=min(1.0, p))


@dataclass(frozen=True)
class SeedSummary:
    mean: float
    std: float  # sample standard deviation (ddof=1); 0.0 for a single seed
    n_seeds: int


def seed_summary(values: Sequence[float]) -> SeedSummary:
    """Mean ± sample standard deviation over seeds of one configuration.

    >>> seed_summary([0.5, 0.7, 0.6])
    SeedSummary(mean=0.6, std=0.1, n_seeds=3)
    """
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError("seed_summary needs at least one value")
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return SeedSummary(mean=round(float(arr.mean()), 12), std=round(std, 12), n_seeds=int(arr.size))
