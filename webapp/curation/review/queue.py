"""The review queue: which question a curator gets next, leased to them as it is handed out.

Candidates are read from the chain side (pending chains in question order, served by the partial index
`chain_pending_question`), so the cost does not grow with the questions already reviewed. On PostgreSQL the queue
locks its candidate rows with SKIP LOCKED, so concurrent curators are handed different questions without waiting.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from webapp.catalog.models import Question
from webapp.core.prepared import Prepared
from webapp.curation.models import Chain, Lease, Review
from webapp.curation.review.leases import release_others, try_claim

QUEUE_BATCH = 8  # candidate questions locked per attempt
QUEUE_WINDOW = 64  # pending questions read before locking (leased ones are already left out)


def pending_chains() -> QuerySet[Chain]:
    return Chain.objects.filter(kept=True, decision=Chain.Decision.PENDING)


def _open_to(user: AbstractBaseUser, chains: QuerySet[Chain], now: datetime) -> QuerySet[Chain]:
    """The chains whose question still has a slot for this curator: no one else holds an unexpired lease on it,
    or fewer than its overlap are held or completed by others; and the curator has not completed it already.

    The first test is the cheap one, and enough for single review (overlap 1). The slot count, a correlated
    lookup, runs only for questions someone else holds: a question with a pending chain can't be full of
    completed slots alone, as each completed curator decided that chain and it would not be pending with N of
    them. The question's overlap is looked up by primary key, never joined: joining question and dataset let
    PostgreSQL merge-join along the question primary key from id 1, growing with the questions already done.
    """
    held_by_others = Lease.objects.filter(question=OuterRef("question"), expires_at__gt=now).exclude(curator=user)
    taken = (Lease.objects.filter(question=OuterRef("question")).exclude(curator=user)
             .filter(Q(expires_at__gt=now) | Q(completed_at__isnull=False))
             .order_by().values("question").annotate(n=Count("id")).values("n"))
    overlap = Question.objects.filter(pk=OuterRef("question")).values("dataset__review_overlap")
    done_by_me = Lease.objects.filter(question=OuterRef("question"), curator=user, completed_at__isnull=False)
    return (chains.alias(taken=Coalesce(Subquery(taken), 0), overlap=Subquery(overlap))
            .filter(~Exists(held_by_others) | Q(taken__lt=F("overlap"))).exclude(Exists(done_by_me)))


def held_question(user_id: int, now: datetime, chains: QuerySet[Chain]) -> QuerySet[Question]:
    """The question this curator holds an open lease on, if it has a chain in the queue."""
    return (Question.objects.filter(leases__curator_id=user_id, leases__expires_at__gt=now,
                                    leases__completed_at__isnull=True)
            .filter(Exists(chains.filter(question=OuterRef("pk")))).select_related("dataset").order_by("id")[:1])


def claim_next(
    user: AbstractBaseUser, queue_chains: QuerySet[Chain] | None = None, after: int | None = None,
    held: Prepared[Question] | None = None,
) -> Question | None:
    """The next question of the queue for this curator, leased to them; None when the queue is empty.

    Queue order is the chains' `queue_priority` (highest first; review/priority.py writes it in an active-queue
    dataset, FIFO datasets keep 0), then question order.

    Without `after` a curator first gets back the question they already hold (a reload resumes): `held`, when
    given, is that lookup for `queue_chains` prepared once (held_question with user id and time). With it (j,
    auto-advance) the queue continues after that question and wraps round.

    The candidates are read from the chain side: pending chains in question order, which the partial index
    `chain_pending_question` serves directly, so the cost does not grow with the reviewed (or total) questions.
    Reading from the question side made PostgreSQL walk every question from id 1 and probe its chains: 24 ms
    at 25k questions done (111 ms before VACUUM) against 0.4 ms here (see bench/review_load.py). With review
    overlap a chain stays pending until enough curators decided it, so the same index serves the overlap queue.
    """
    chains = queue_chains if queue_chains is not None else pending_chains()
    now = timezone.now()
    if after is None:
        mine = held.first(user.pk, now) if held is not None else held_question(user.pk, now, chains).first()
        if mine is not None and try_claim(user, mine.pk, mine.dataset.review_overlap):
            return mine
    free = _open_to(user, chains, now)
    skip_locked = connection.features.has_select_for_update_skip_locked
    for window in _windows(free, after):
        ids = _ordered_ids(window)
        for start in range(0, len(ids), QUEUE_BATCH):
            batch = ids[start:start + QUEUE_BATCH]
            with transaction.atomic():
                qs = Question.objects.filter(id__in=batch).select_related("dataset")
                if skip_locked:  # concurrent curators pass over each other's candidates instead of queueing
                    qs = qs.select_for_update(skip_locked=True, of=("self",))
                for question in sorted(qs, key=lambda q: batch.index(q.pk)):
                    if try_claim(user, question.pk, question.dataset.review_overlap):
                        release_others(user, keep_question_id=question.pk)
                        return question
    return None


def _ordered_ids(window: QuerySet[Chain]) -> list[int]:
    """Up to QUEUE_WINDOW candidate questions in queue order: highest priority first (all 0 in a FIFO dataset,
    which leaves question order), read along the partial index `chain_pending_priority`."""
    rows = (window.order_by("-queue_priority", "question_id").values_list("question_id", "queue_priority")
            .distinct()[:QUEUE_WINDOW])
    return list(dict.fromkeys(question_id for question_id, _p in rows))  # a question's chains may differ in priority


def _windows(free: QuerySet[Chain], after: int | None) -> list[QuerySet[Chain]]:
    """The candidates after question `after` in queue order, then (wrapping round) the ones up to it."""
    if not after:
        return [free]
    p = (Chain.objects.filter(question_id=after).order_by("-queue_priority")
         .values_list("queue_priority", flat=True).first()) or 0.0
    later = Q(queue_priority__lt=p) | Q(queue_priority=p, question_id__gt=after)
    return [free.filter(later), free.exclude(later)]


def question_done(question_id: int) -> bool:
    return not pending_chains().filter(question_id=question_id).exists()


def previous_question_id(user: AbstractBaseUser, question: Question) -> int | None:
    """`k`: the question this curator reviewed last before this one."""
    row = (Review.objects.filter(curator=user).exclude(chain__question=question).order_by("-created_at", "-id")
           .values_list("chain__question_id", flat=True).first())
    return row
