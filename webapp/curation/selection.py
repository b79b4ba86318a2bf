"""What a teacher run's selection did: chains dropped by each rule, and how far its questions' K samples agreed.

A run page that shows only "kept" cannot tell a strict rule from a weak teacher; these counts can, and they say
what a new `min_agreement` would cost before anyone re-runs selection.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Avg, Count, F, Q

from webapp.core.paging import Tally, count_or_estimate
from webapp.curation.models import Chain, GenerationRun


@dataclass(frozen=True)
class Selection:
    chains: int | Tally  # exact up to paging.EXACT_COUNT_UP_TO; above it the planner's estimate ("about N")
    kept: int | Tally
    dropped: list[tuple[str, int | Tally]]  # (rule, chains it dropped), in the order the rules apply
    questions: int
    agreement_mean: float | None
    lucky: int  # labelled questions answered right by a minority of their K samples

    @property
    def summary(self) -> str:
        """'0 of 32 kept: 31 had no answer, 1 wrong answer'."""
        from webapp.curation.empty_states import kept_summary

        return kept_summary(self.kept, self.chains, dict(self.dropped))


def selection(run: GenerationRun) -> Selection | None:
    """None for a validation run; counts so far for a running teacher run or chain import."""
    if not run.makes_chains:
        return None
    from pipeline.teacher import DROP_REASONS

    # Counted per drop reason, each exact up to a threshold and estimated above it: a GROUP BY over a full-size
    # run's 4M chains took most of a second at every view of its progress page. order_by(): Chain's default
    # ordering would join run, question and dataset to every chain counted.
    chains = Chain.objects.filter(run=run).order_by()
    counts = {reason: count_or_estimate(chains.filter(drop_reason=reason)).shown for reason in DROP_REASONS}
    stats = run.question_stats.aggregate(
        questions=Count("id"), agreement=Avg("agreement"),
        lucky=Count("id", filter=Q(n_correct__gt=0) & Q(n_correct__lt=F("n_samples") / 2.0)),
    )
    return Selection(chains=count_or_estimate(chains).shown, kept=counts[""],
                     dropped=[(reason, counts[reason]) for reason in DROP_REASONS if reason],
                     questions=stats["questions"], agreement_mean=stats["agreement"], lucky=stats["lucky"])
