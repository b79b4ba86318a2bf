"""Validator calibration on curator decisions: how likely a chain the validators judged is hallucinated.

Why: a verdict's score is evidence, not a probability, and a validator version's errors are its own (one tagger
misses engines, a judge says "supported" too readily). Curators' decisions are the ground truth that arrives
with use, so each validator version gets a logistic model from its chains' features to "a curator rejected it as
a hallucinated sound", refitted as decisions come in. The review queue ranks by it (`pipeline/priority.py`), the
dashboard shows its reliability, and `threshold_for_precision` suggests the policy threshold that reaches a
target precision against curators — so the automatic filter improves as curators work.

The fit is a maximum a posteriori logistic regression (Newton's method, numpy only) whose Gaussian prior is
centred on `PRIOR_WEIGHTS`: with no decisions it ranks by the prior (low support, validators disagreeing, a split
teacher); with a few it moves a little; with hundreds the decisions dominate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

# One row per chain: what the validators and the teacher said about it, each in [0, 1], higher = more suspect.
FEATURES: tuple[str, ...] = ("low_support", "uncertain", "validators_disagree", "teacher_split")
FEATURE_REASONS: dict[str, str] = {
    "low_support": "few of its sound claims were heard",
    "uncertain": "the validator was unsure (score near the threshold)",
    "validators_disagree": "validators disagree",
    "teacher_split": "the teacher's samples disagreed on the answer",
}
TRACK_RECORD_REASON = "curators often overturn this validator version"

# Prior: intercept then one weight per feature, on the logit scale. An untrained ranking that is already sensible
# (a chain with no supported claim and a split teacher is a likely hallucination), and the centre the fit shrinks to.
PRIOR_WEIGHTS = np.array([-2.5, 3.0, 1.0, 1.5, 1.0])
PRIOR_STRENGTH = 1.0  # precision of the Gaussian prior per weight: worth a handful of decisions


@dataclass(frozen=True)
class ChainEvidence:
    """What is known about one chain before a curator looks at it."""

    score: float | None  # the verdict of record's score (supported share of verifiable claims); None: no verdict
    label: str = ""  # the verdict of record's label: pass, fail, uncertain ("" when none)
    disagree: bool = False  # the run's validators gave different labels (a "both" run)
    agreement: float | None = None  # the teacher's agreement across K on this question (None: unknown)

    def features(self) -> list[float]:
        score = 0.5 if self.score is None else min(max(float(self.score), 0.0), 1.0)
        return [1.0 - score, 1.0 if self.label == "uncertain" or self.score is None else 0.0,
                1.0 if self.disagree else 0.0, 0.0 if self.agreement is None else 1.0 - float(self.agreement)]


def design(evidence: Sequence[ChainEvidence]) -> np.ndarray:
    """The design matrix: a column of ones, then FEATURES."""
    rows = np.array([e.features() for e in evidence], dtype=float).reshape(len(evidence), len(FEATURES))
    return np.hstack([np.ones((len(evidence), 1)), rows])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35.0, 35.0)))


@dataclass
class Calibration:
    """A fitted model for one validator version; `n` decisions went into it (0: the prior alone)."""

    weights: np.ndarray = field(default_factory=lambda: PRIOR_WEIGHTS.copy())
    n: int = 0
    positives: int = 0

    def probability(self, evidence: Sequence[ChainEvidence]) -> np.ndarray:
        return _sigmoid(design(evidence) @ self.weights)

    def reasons(self, evidence: Sequence[ChainEvidence]) -> list[str]:
        """Why each chain ranks where it does: the feature that adds most to its logit, or the validator version's
        track record when the intercept (how often curators overturned it) outweighs every feature."""
        contributions = design(evidence)[:, 1:] * self.weights[1:]
        raised = float(self.weights[0] - PRIOR_WEIGHTS[0]) if self.n else 0.0  # overturned more than expected
        out = []
        for row in contributions:
            i = int(np.argmax(row))
            if raised > 1.0 and raised > row[i]:
                out.append(TRACK_RECORD_REASON)
            else:
                out.append(FEATURE_REASONS[FEATURES[i]] if row[i] > 0.05 else "")
        return out

    def to_json(self) -> dict[str, object]:
        return {"weights": [round(float(w), 6) for w in self.weights], "features": list(FEATURES),
                "n": self.n, "positives": self.positives}

    @classmethod
    def from_json(cls, data: dict[str, object] | None) -> Calibration:
        if not data or list(data.get("features", [])) != list(FEATURES):  # type: ignore[arg-type]
            return cls()
        return cls(weights=np.array(data["weights"], dtype=float), n=int(data["n"]),  # type: ignore[arg-type]
                   positives=int(data["positives"]))  # type: ignore[arg-type]


def fit(evidence: Sequence[ChainEvidence], hallucinated: Sequence[bool], *, strength: float = PRIOR_STRENGTH,
        iterations: int = 50) -> Calibration:
    """MAP logistic regression of curators' "hallucinated" decisions on the chains' evidence (prior: PRIOR_WEIGHTS).

    >>> cal = fit([ChainEvidence(0.0), ChainEvidence(1.0)] * 50, [True, False] * 50)
    >>> bool(cal.probability([ChainEvidence(0.0)])[0] > 0.9 > 0.1 > cal.probability([ChainEvidence(1.0)])[0])
    True
    """
    y = np.asarray(hallucinated, dtype=float)
    if not len(y):
        return Calibration()
    x = design(evidence)
    w = PRIOR_WEIGHTS.copy()
    penalty = strength * np.eye(len(w))
    def objective(w: np.ndarray) -> float:  # the negative log posterior
        z = x @ w
        return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * strength * np.sum((w - PRIOR_WEIGHTS) ** 2))

    current = objective(w)
    for _ in range(iterations):
        p = _sigmoid(x @ w)
        gradient = x.T @ (p - y) + penalty @ (w - PRIOR_WEIGHTS)
        hessian = (x * (p * (1 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while scale > 1e-4 and objective(w - scale * step) > current:  # damped: a full step can overshoot
            scale /= 2
        w = w - scale * step
        previous, current = current, objective(w)
        if previous - current < 1e-10:
            break
    return Calibration(weights=w, n=len(y), positives=int(y.sum()))


@dataclass(frozen=True)
class ReliabilityBin:
    low: float
    high: float
    n: int
    predicted: float  # mean predicted probability in the bin
    observed: float  # share the curators found hallucinated


def reliability(probabilities: Sequence[float], hallucinated: Sequence[bool], bins: int = 10) -> list[ReliabilityBin]:
    """A reliability diagram's points: equal-width bins of predicted probability; empty bins left out."""
    p = np.asarray(probabilities, dtype=float)
    y = np.asarray(hallucinated, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        mask = index == b
        if mask.any():
            out.append(ReliabilityBin(float(edges[b]), float(edges[b + 1]), int(mask.sum()),
                                      float(p[mask].mean()), float(y[mask].mean())))
    return out


@dataclass(frozen=True)
class Agreement:
    """The validator's "fail" against curators' "hallucinated": precision, recall and the counts behind them."""

    true_positive: int
    false_positive: int
    false_negative: int

    @property
    def precision(self) -> float | None:
        flagged = self.true_positive + self.false_positive
        return self.true_positive / flagged if flagged else None

    @property
    def recall(self) -> float | None:
        found = self.true_positive + self.false_negative
        return self.true_positive / found if found else None


def against_curators(flagged: Sequence[bool], hallucinated: Sequence[bool]) -> Agreement:
    f = np.asarray(flagged, dtype=bool)
    y = np.asarray(hallucinated, dtype=bool)
    return Agreement(int((f & y).sum()), int((f & ~y).sum()), int((~f & y).sum()))


def threshold_for_precision(scores: Sequence[float], hallucinated: Sequence[bool],
                            target: float) -> tuple[float, Agreement] | None:
    """The highest score threshold t such that failing every chain with score <= t has precision >= `target`
    against curators (highest: the most recall at that precision); None when no threshold reaches it.

    >>> t, a = threshold_for_precision([0.1, 0.2, 0.6, 0.9], [True, True, False, False], 0.9)
    >>> t, a.recall
    (0.2, 1.0)
    """
    s = np.asarray(scores, dtype=float)
    y = np.asarray(hallucinated, dtype=bool)
    best: tuple[float, Agreement] | None = None
    for t in np.unique(s):
        agreement = against_curators(s <= t, y)
        if agreement.precision is not None and agreement.precision >= target:
            best = (float(t), agreement)
    return best
