"""Numbers for the review dashboards: progress per dataset / curator / day, and validator-vs-curator agreement.

Everything is one GROUP BY per figure, so the page costs the same few queries at 5k or 500k chains.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from webapp.curation.models import Chain, Review, Verdict

DECISIONS = [d for d, _ in Chain.Decision.choices]
VERDICT_LABELS = [label for label, _ in Verdict.Label.choices]
CURATOR_LABELS = [Chain.Decision.ACCEPTED, Chain.Decision.REJECTED]


def progress_by_dataset() -> list[dict[str, object]]:
    rows = (Chain.objects.filter(kept=True).values("question__dataset__name", "question__dataset__slug")
            .annotate(**{d: Count("id", filter=Q(decision=d)) for d in DECISIONS}, total=Count("id"))
            .order_by("question__dataset__name"))
    return [{"dataset": r["question__dataset__name"], "slug": r["question__dataset__slug"], "total": r["total"],
             "reviewed": r["total"] - r["pending"], **{d: r[d] for d in DECISIONS}} for r in rows]


def progress_by_curator() -> list[dict[str, object]]:
    actions = [a for a, _ in Review.Action.choices]
    rows = (Review.objects.values("curator__username")
            .annotate(**{a: Count("id", filter=Q(action=a)) for a in actions}, total=Count("id"))
            .order_by("-total"))
    return [{"curator": r["curator__username"], "total": r["total"], **{a: r[a] for a in actions}} for r in rows]


def progress_by_day(days: int = 30) -> list[dict[str, object]]:
    since = timezone.now() - timedelta(days=days)
    rows = (Review.objects.filter(created_at__gte=since).annotate(day=TruncDate("created_at"))
            .values("day").annotate(total=Count("id"), accepted=Count("id", filter=Q(to_decision="accepted")),
                                    rejected=Count("id", filter=Q(to_decision="rejected")))
            .order_by("day"))
    return [{"day": r["day"].isoformat(), "total": r["total"], "accepted": r["accepted"],
             "rejected": r["rejected"]} for r in rows]


@dataclass
class Agreement:
    validator: str
    version: str
    matrix: dict[str, dict[str, int]] = field(default_factory=dict)  # verdict label -> curator decision -> n

    @property
    def rows(self) -> list[tuple[str, list[int]]]:
        return [(label, [self.matrix.get(label, {}).get(d, 0) for d in CURATOR_LABELS]) for label in VERDICT_LABELS]

    @property
    def n(self) -> int:
        return sum(sum(row.values()) for row in self.matrix.values())

    @property
    def disagreements(self) -> int:
        return self.matrix.get("pass", {}).get("rejected", 0) + self.matrix.get("fail", {}).get("accepted", 0)

    @property
    def kappa(self) -> float | None:
        """Cohen's kappa on the binary pass↔accepted / fail↔rejected table (uncertain verdicts left out)."""
        return cohen_kappa([[self.matrix.get(v, {}).get(d, 0) for d in CURATOR_LABELS] for v in ("pass", "fail")])


def cohen_kappa(table: list[list[int]]) -> float | None:
    """Cohen's kappa of a square agreement table (rows: rater 1, columns: rater 2); None when undefined.

    >>> cohen_kappa([[20, 5], [10, 15]])
    0.4
    >>> cohen_kappa([[3, 0], [0, 0]]) is None
    True
    """
    n = sum(sum(row) for row in table)
    if not n:
        return None
    k = len(table)
    observed = sum(table[i][i] for i in range(k)) / n
    expected = sum(sum(table[i]) * sum(row[i] for row in table) for i in range(k)) / (n * n)
    if expected >= 1:
        return None
    return round((observed - expected) / (1 - expected), 4)


def validator_agreement() -> list[Agreement]:
    rows = (Verdict.objects.filter(chain__decision__in=CURATOR_LABELS, chain__kept=True)
            .values("validator", "validator_version", "label", "chain__decision")
            .annotate(n=Count("id")).order_by("validator", "validator_version"))
    found: dict[tuple[str, str], Agreement] = {}
    for r in rows:
        key = (r["validator"], r["validator_version"])
        agreement = found.setdefault(key, Agreement(*key))
        agreement.matrix.setdefault(r["label"], defaultdict(int))[r["chain__decision"]] += r["n"]
    return list(found.values())
