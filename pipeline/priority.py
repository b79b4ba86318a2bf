"""Which question a curator should review first: the one whose kept chains are most likely hallucinated.

A question is reviewed as a whole (every pending chain on one page), so its priority is the mean probability over
its pending chains — the expected share of hallucinated chains a review of it finds, which is what ordering by it
maximises per chain reviewed. The reason shown is the most suspect chain's (`Calibration.reasons`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.calibration import Calibration, ChainEvidence


@dataclass(frozen=True)
class Priority:
    value: float  # mean P(hallucinated) over the question's pending chains, in [0, 1]
    reason: str  # why it is served early ("" when nothing stands out)


def question_priority(calibration: Calibration, chains: Sequence[ChainEvidence]) -> Priority:
    """The priority of one question from its pending chains' evidence (no chains: 0)."""
    if not chains:
        return Priority(0.0, "")
    p = calibration.probability(chains)
    reasons = calibration.reasons(chains)
    top = int(p.argmax())
    return Priority(float(p.mean()), reasons[top])
