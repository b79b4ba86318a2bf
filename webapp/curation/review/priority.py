"""The active review queue's priorities: each pending question's estimated share of hallucinated chains.

Why stored on the chains and refreshed in batches, not computed per request: *next* must stay one indexed read
(`chain_pending_priority`) at millions of chains, so the ranking is written once per refresh — after a validation
run succeeds, after every `REFIT_EVERY` decisions in a dataset (a job), or by `manage.py refresh_review_priorities` —
and read by the queue like the question order it replaces. Each validator version's calibration is refitted on
what curators decided about its chains first (`pipeline/calibration.py`), so the order learns from every decision.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator

import django_rq
from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from pipeline.calibration import (
    Calibration,
    ChainEvidence,
    against_curators,
    fit,
    reliability,
    threshold_for_precision,
)
from pipeline.export import HALLUCINATION_REASONS
from pipeline.priority import question_priority
from webapp.catalog.models import Dataset
from webapp.core.queueing import REDIS_DOWN, shared_connection
from webapp.curation.models import Chain, Review, TeacherQuestion, ValidatorCalibration, Verdict

logger = logging.getLogger(__name__)

REFIT_EVERY = 50  # decisions in a dataset between two refreshes of its queue
BATCH = 2000


def _with_evidence(chains: QuerySet[Chain]) -> QuerySet[Chain]:
    """Chains annotated with what the calibration reads: the verdict of record, whether another validator of the
    same run labelled the chain otherwise, and the teacher's agreement across K on the question."""
    other = Verdict.objects.filter(chain=OuterRef("pk"), run=OuterRef("verdict__run")).exclude(
        label=OuterRef("verdict__label"))
    agreement = TeacherQuestion.objects.filter(run=OuterRef("run"), question=OuterRef("question")).values(
        "agreement")[:1]
    return chains.annotate(disagree=Exists(other), agreement=Subquery(agreement))


def _evidence(row: dict[str, object]) -> ChainEvidence:
    return ChainEvidence(score=row["verdict__score"], label=row["verdict__label"] or "",  # type: ignore[arg-type]
                         disagree=bool(row["disagree"]), agreement=row["agreement"])  # type: ignore[arg-type]


FIELDS = ("pk", "question_id", "verdict__score", "verdict__label", "verdict__validator_version", "disagree",
          "agreement")


def _rows(chains: QuerySet[Chain]) -> Iterator[dict[str, object]]:
    return _with_evidence(chains).values(*FIELDS).order_by().iterator(chunk_size=BATCH)


def hallucinated(chains: QuerySet[Chain]) -> QuerySet[Chain]:
    """Decided chains, annotated `hallucinated`: rejected with a hallucination reason as the chain's latest review.
    Chains rejected for another reason (wrong answer, format) say nothing about sound claims and are left out."""
    last = Review.objects.filter(chain=OuterRef("pk")).order_by("-chain_version").values("reason")[:1]
    decided = chains.filter(decision__in=[Chain.Decision.ACCEPTED, Chain.Decision.REJECTED]).annotate(
        last_reason=Subquery(last))
    return decided.filter(Q(decision=Chain.Decision.ACCEPTED) | Q(last_reason__in=HALLUCINATION_REASONS))


def refit(version: str) -> Calibration:
    """Fit the version's calibration on every curator decision about a chain whose verdict of record it gave, and
    store it with its report (what the dashboard shows without reading the decisions again)."""
    decided = hallucinated(Chain.objects.filter(verdict__validator_version=version))
    evidence, labels = [], []
    for row in _with_evidence(decided).values(*FIELDS, "decision").order_by().iterator(chunk_size=BATCH):
        evidence.append(_evidence(row))
        labels.append(row["decision"] == Chain.Decision.REJECTED)
    calibration = fit(evidence, labels)
    ValidatorCalibration.objects.update_or_create(
        validator_version=version, defaults={"model": calibration.to_json(),
                                             "report": report(calibration, evidence, labels),
                                             "fitted_at": timezone.now()})
    return calibration


def report(calibration: Calibration, evidence: list[ChainEvidence], labels: list[bool]) -> dict[str, object]:
    """The validator against curators on the decisions fitted: reliability of the calibrated probability, precision
    and recall of its "fail" label, and the sound-score threshold that reaches the target precision."""
    agreement = against_curators([e.label == "fail" for e in evidence], labels)
    target = settings.REVIEW_TARGET_PRECISION
    scored = [(e.score, y) for e, y in zip(evidence, labels, strict=True) if e.score is not None]
    found = threshold_for_precision([s for s, _y in scored], [y for _s, y in scored], target) if scored else None
    return {
        "n": len(labels), "hallucinated": sum(labels),
        "reliability": [vars(b) for b in reliability(calibration.probability(evidence), labels)] if labels else [],
        "fail": {"precision": agreement.precision, "recall": agreement.recall, "tp": agreement.true_positive,
                 "fp": agreement.false_positive, "fn": agreement.false_negative},
        "target_precision": target,
        "threshold": None if found is None else {"score": found[0], "precision": found[1].precision,
                                                 "recall": found[1].recall},
    }


def calibrations(versions: set[str]) -> dict[str, Calibration]:
    stored = dict(ValidatorCalibration.objects.filter(validator_version__in=versions)
                  .values_list("validator_version", "model"))
    return {v: Calibration.from_json(stored.get(v)) for v in versions}


def refresh(dataset: Dataset, *, refit_first: bool = True) -> int:
    """Write the queue priority (and its reason) of every pending question of the dataset; the chains updated.

    A FIFO dataset's chains go back to 0, so switching a dataset to FIFO restores the import order.
    """
    pending = Chain.objects.filter(question__dataset=dataset, kept=True, decision=Chain.Decision.PENDING)
    if dataset.review_order == Dataset.ReviewOrder.FIFO:
        return pending.exclude(queue_priority=0, queue_reason="").update(queue_priority=0, queue_reason="")
    versions = set(pending.exclude(verdict=None).values_list("verdict__validator_version", flat=True).distinct())
    models = {v: refit(v) for v in versions} if refit_first else calibrations(versions)
    prior = Calibration()
    by_question: dict[int, list[tuple[int, ChainEvidence, Calibration]]] = defaultdict(list)
    for row in _rows(pending):
        cal = models.get(row["verdict__validator_version"], prior)  # type: ignore[arg-type]
        by_question[row["question_id"]].append((row["pk"], _evidence(row), cal))  # type: ignore[index]
    updates: list[Chain] = []
    for entries in by_question.values():
        cal = entries[0][2]  # a question's chains are ranked by one model: their own version's, where mixed the first
        priority = question_priority(cal, [e for _pk, e, _c in entries])
        updates += [Chain(pk=pk, queue_priority=round(priority.value, 6), queue_reason=priority.reason[:80])
                    for pk, _e, _c in entries]
    Chain.objects.bulk_update(updates, ["queue_priority", "queue_reason"], batch_size=BATCH)
    return len(updates)


def queue_refresh(dataset_id: int) -> None:
    """Queue a refresh of the dataset's priorities for a worker (after the current transaction commits)."""
    django_rq.get_queue("default").enqueue("webapp.curation.review.jobs.priorities_job", dataset_id,
                                           job_id=f"review-priorities-{dataset_id}", result_ttl=3600,
                                           failure_ttl=86400)


def note_decision(dataset_id: int) -> None:
    """Count a decision in the dataset; every REFIT_EVERY-th queues a refresh. Best effort: Redis down never fails
    the decision already stored (the next refresh catches up)."""
    try:
        if shared_connection().incr(f"sightsound:decisions:{dataset_id}") % REFIT_EVERY == 0:
            queue_refresh(dataset_id)
    except REDIS_DOWN:
        logger.warning("queue unreachable: review priorities of dataset %s not refreshed", dataset_id)
