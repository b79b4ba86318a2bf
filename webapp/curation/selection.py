"""What a teacher run's selection did: chains dropped by each rule, and how far its questions' K samples agreed.

A run page that shows only "kept" cannot tell a strict rule from a weak teacher; these counts can, and they say
what a new `min_agreement` would cost before anyone re-runs selection.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Avg, Count, F, Q

from webapp.curation.models import Chain, GenerationRun


@dataclass(frozen=True)
class Selection:
    chains: int
    kept: int
    dropped: list[tuple[str, int]]  # (rule, chains it dropped), in the order the rules apply
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

    # order_by(): Chain's default ordering would join run, question and dataset to every chain counted
    counts = dict(Chain.objects.filter(run=run).order_by().values_list("drop_reason").annotate(n=Count("id")))
    stats = run.question_stats.aggregate(
        questions=Count("id"), agreement=Avg("agreement"),
        lucky=Count("id", filter=Q(n_correct__gt=0) & Q(n_correct__lt=F("n_samples") / 2.0)),
    )
    return Selection(chains=sum(counts.values()), kept=counts.get("", 0),
                     dropped=[(reason, counts.get(reason, 0)) for reason in DROP_REASONS if reason],
                     questions=stats["questions"], agreement_mean=stats["agreement"], lucky=stats["lucky"])
