"""The verdict of record: the one decision per chain that every filter, count and export reads.

Why one, kept on the chain: a chain collects verdicts from every validator of every validation run (a stale
validator version, the judge the policy overruled), and "passes if any verdict says pass" let those through. The
record is the deciding verdict (the policy's, for a `both` run) of the validation run that most recently succeeded
on the chain (a resumed older run that finishes last wins: it is the newest finished). It is set in the same
transaction that marks the run succeeded, so a failed, cancelled or superseded run never changes it.
Older verdicts stay as history.
"""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery

from webapp.core.paging import Tally, count_or_estimate
from webapp.curation.models import Chain, GenerationRun, Verdict


def deciding_validator(run: GenerationRun) -> str:
    from pipeline.validate.verdicts import deciding_validator as deciding

    return deciding(run.config.get("validators", ""))


def _deciding_verdicts(run: GenerationRun) -> QuerySet[Verdict]:
    return Verdict.objects.filter(chain=OuterRef("pk"), run=run, validator=deciding_validator(run))


def verdict_counts(run: GenerationRun, **within: int) -> dict[str, int]:
    """The run's deciding verdicts by label, from the database: every attempt's, not only the latest one's
    (`within`: filter arguments that keep it to a shard's chains)."""
    rows = (Verdict.objects.filter(run=run, validator=deciding_validator(run), **within).values_list("label")
            .annotate(n=Count("id")).order_by())
    return dict(rows)  # type: ignore[arg-type]


def shown_verdict_counts(run: GenerationRun) -> dict[str, int | Tally]:
    """`verdict_counts` as the run page shows it: per label, exact up to paging.EXACT_COUNT_UP_TO and the planner's
    estimate above it ("about N"): the GROUP BY over a full-size run's 4M verdicts took most of a second a view."""
    verdicts = Verdict.objects.filter(run=run, validator=deciding_validator(run)).order_by()
    counts = {label: count_or_estimate(verdicts.filter(label=label)).shown for label in Verdict.Label.values}
    return {label: n for label, n in counts.items() if n}


def keep_verdicts_of_record(run: GenerationRun) -> int:
    """Point every chain the run judged at the run's deciding verdict; the number of chains."""
    deciding = _deciding_verdicts(run)
    return (Chain.objects.filter(run=run.source_run_id).filter(Exists(deciding))
            .update(verdict=Subquery(deciding.values("pk")[:1])))


def with_verdict(chains: QuerySet[Chain], label: str) -> QuerySet[Chain]:
    """Chains whose verdict of record has `label`; "none": chains without one."""
    if label == "none":
        return chains.filter(verdict__isnull=True)
    return chains.filter(verdict__label=label)


def disagrees(chains: QuerySet[Chain]) -> QuerySet[Chain]:
    """Accepted although the record says fail, or rejected although it says pass."""
    return chains.filter(Q(decision=Chain.Decision.ACCEPTED, verdict__label=Verdict.Label.FAIL)
                         | Q(decision=Chain.Decision.REJECTED, verdict__label=Verdict.Label.PASS))
