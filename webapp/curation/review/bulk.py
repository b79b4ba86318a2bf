"""Bulk accept or reject of a filtered, confirmed set of chains: each chain still gets its own Review row.

A small set is applied in the request; a large one is recorded and applied by an RQ worker
(`BulkAction.enqueue` → `review.jobs.bulk_job`), which re-runs the stored filter at execution time.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import QueryDict
from django.utils import timezone

from webapp.core import paging
from webapp.core.failpoints import failpoint
from webapp.core.models import Superseded
from webapp.core.roles import is_admin
from webapp.curation.models import BulkAction, Chain, Lease, Review
from webapp.curation.review.decisions import TO_DECISION
from webapp.curation.review.forms import ReviewFilterForm

logger = logging.getLogger(__name__)

BULK_BATCH = 500
BULK_INLINE_MAX = 200  # chains applied in the request; more go to a worker


def still_confirmed(confirmed: int | None, shown: paging.Tally) -> bool:
    """Whether the count the curator confirmed still stands: an exact count must be the same; an estimate (a set
    above EXACT_COUNT_UP_TO chains, "about N") stands while the set is still that large, since the planner's figure
    moves with each ANALYZE and the job re-runs the filter when it executes anyway."""
    if confirmed is None:
        return False
    return confirmed > paging.EXACT_COUNT_UP_TO if shown.estimated else confirmed == shown.n


def start(data: dict[str, Any], filters: ReviewFilterForm, count: int, user: AbstractBaseUser, *,
          inline: bool = False) -> BulkAction:
    """Record the bulk action the curator confirmed (`count` chains); apply it now when small (or `inline`, for a
    command that must see it applied), else queue it."""
    queued = count > BULK_INLINE_MAX and not inline
    with transaction.atomic():
        run = BulkAction.objects.create(action=data["action"], reason=data["reason"], note=data["note"],
                                        filters=filters.stored(), expected_count=count, created_by=user)
        if queued:
            run.enqueue()
    if not queued:
        execute(run.pk)
    return run


def execute(bulk_id: int, attempt: int | None = None) -> dict[str, int | str]:
    """Re-run the stored filter at execution time (the set the curator confirmed, as it is now) and apply it.

    `attempt` is the queued job's (None when applied in the request); a superseded attempt applies nothing more.
    """
    run = BulkAction.objects.select_related("created_by").get(pk=bulk_id)
    outcome = run.carry_out(attempt if attempt is not None else run.attempt, lambda: _execute(run))
    run.refresh_from_db(fields=["applied_count", "skipped_count"])
    return {"applied": run.applied_count, "skipped": run.skipped_count, "outcome": outcome}


def _execute(run: BulkAction) -> str:
    try:
        params = QueryDict(mutable=True)
        params.update(run.filters)
        form = ReviewFilterForm(params)
        if not form.is_valid():
            raise ValueError(f"stored filter no longer valid: {form.errors.as_text()}")
        bulk_apply(run, form.chains(), run.created_by)
    except Superseded:
        raise
    except Exception as exc:
        logger.exception("bulk action %s failed", run.pk)
        run.mark_failed(exc)
        raise
    run.mark_succeeded()
    return "succeeded"


def bulk_apply(bulk: BulkAction, chains: QuerySet[Chain], user: AbstractBaseUser) -> tuple[int, int]:
    """Apply a bulk accept/reject chain by chain (one Review each), in batches; returns (applied, skipped).

    Chains already in the target state, or in a question another curator holds, are skipped and counted, and so
    are the chains of datasets under review overlap (a bulk decision would stand in for the blind, per-curator
    reviews that an agreement study exists to collect) and, for an accept, chains the teacher's selection dropped.
    Overwriting other curators' decisions in bulk is an admin's action: a curator's bulk leaves them alone.
    """
    to_decision = TO_DECISION[bulk.action]
    if to_decision == Chain.Decision.ACCEPTED:
        chains = chains.filter(kept=True)
    if not is_admin(user):  # a curator's bulk touches pending chains and their own decisions, nobody else's
        chains = chains.filter(Q(decision=Chain.Decision.PENDING) | Exists(Review.objects.filter(
            chain=OuterRef("pk"), chain_version=OuterRef("version") - 1, curator=user)))
    note = f"bulk #{bulk.pk}" + (f": {bulk.note}" if bulk.note else "")
    ids = list(chains.order_by("id").values_list("id", flat=True))
    applied = 0
    for start in range(0, len(ids), BULK_BATCH):
        batch = ids[start:start + BULK_BATCH]
        with bulk.fence():  # a superseded attempt of this action (a stale requeue) applies nothing
            now = timezone.now()
            rows = list(
                Chain.objects.select_for_update(of=("self",)).filter(pk__in=batch)
                .exclude(decision=to_decision).exclude(question__dataset__review_overlap__gt=1)
                .exclude(Exists(Lease.objects.filter(question=OuterRef("question"), expires_at__gt=now)
                                .exclude(curator=user)))
                .values_list("id", "version", "decision")
            )
            for chain_id, version, decision in rows:
                if Chain.objects.filter(pk=chain_id, version=version).update(version=version + 1,
                                                                             decision=to_decision):
                    Review.objects.create(chain_id=chain_id, curator=user, action=bulk.action,
                                          from_decision=decision, to_decision=to_decision, reason=bulk.reason,
                                          note=note, chain_version=version)
                    applied += 1
        bulk.report_progress(min(start + BULK_BATCH, len(ids)), len(ids))
        failpoint("bulk.batch")
    skipped = len(ids) - applied
    with bulk.fence():
        BulkAction.objects.filter(pk=bulk.pk).update(applied_count=applied, skipped_count=skipped)
    bulk.applied_count, bulk.skipped_count = applied, skipped
    return applied, skipped
