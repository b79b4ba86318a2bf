"""Per-chain decisions: accept, reject, edit (fix and accept), flag, undo, each checked against the version the
curator saw.

Why conditional writes and not application locks: a decision is an UPDATE guarded by the version the curator saw
(under review overlap, the version of their own stream), taken under the curator's lease, so no decision is silently
overwritten. Each one appends a Review row and updates the chain's cached decision in the same transaction.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from webapp.catalog.models import Question
from webapp.core.failpoints import failpoint
from webapp.core.prepared import Prepared, PreparedInsert, PreparedUpdate
from webapp.curation.models import Chain, Lease, Review
from webapp.curation.review.edits import parse_edit, store_revision
from webapp.curation.review.errors import ReviewError, Ruled, StaleWrite
from webapp.curation.review.history import (
    chain_state,
    consensus,
    effective_stack,
    own_stack,
    standing_decisions,
    stream_version,
)
from webapp.curation.review.leases import ensure_lease

logger = logging.getLogger(__name__)

Decision = Chain.Decision
Action = Review.Action
REJECT_REASONS = [
    ("hallucinated-sound", "Claims a sound that is not there"),
    ("missed-sound", "Misses the decisive sound"),
    ("visual-only", "Reasons from the picture, not the audio"),
    ("wrong-answer", "Wrong or unsupported answer"),
    ("bad-format", "Malformed or truncated"),
    ("other", "Other (see note)"),
]
TO_DECISION = {
    Action.ACCEPT: Decision.ACCEPTED, Action.REJECT: Decision.REJECTED,
    Action.EDIT: Decision.ACCEPTED,  # an edit is "fix and accept"
    Action.FLAG: Decision.FLAGGED,
}


def _before(chain: Chain) -> Q:
    return Q(run_id__lt=chain.run_id) | Q(run_id=chain.run_id, sample_index__lt=chain.sample_index)


def card_number(chain: Chain) -> int:
    """The number a curator sees on the chain's card (and presses to choose it): its place, from 1, among the
    question's kept chains in run and sample order. Notices and history use it too, never the 0-based
    sample_index, which also has gaps where the teacher's selection dropped chains."""
    return Chain.objects.filter(question_id=chain.question_id, kept=True).filter(_before(chain)).count() + 1


def card_number_and_done(chain: Chain, user: AbstractBaseUser | None = None, overlap: int = 1) -> tuple[int, bool]:
    """card_number, and whether the question is done: no chain of it pending any more (question_done) or, with
    overlap, this curator's own stream decided every kept chain (their slot is completed). One query each way."""
    if overlap > 1 and user is not None:
        done = Lease.objects.filter(question_id=chain.question_id, curator=user, completed_at__isnull=False).exists()
        return card_number(chain), done
    counts = _CARD_AND_PENDING.first(chain.question_id, chain.run_id, chain.sample_index)
    before, pending = counts if counts is not None else (0, 0)  # no kept chain: the aggregate's zeros
    return before + 1, not pending


def _card_and_pending(question_id: int, run_id: int, sample_index: int) -> QuerySet[Chain]:
    """The kept chains before (run_id, sample_index) and the pending ones, as one row for the question."""
    before = Q(run_id__lt=run_id) | Q(run_id=run_id, sample_index__lt=sample_index)
    return (Chain.objects.filter(question_id=question_id, kept=True).order_by().values("question_id")
            .annotate(before=Count("id", filter=before), pending=Count("id", filter=Q(decision=Decision.PENDING)))
            .values_list("before", "pending"))


_CARD_AND_PENDING = Prepared[tuple[int, int]](_card_and_pending, "int", "int", "int")
_LOCKED = Prepared[Chain](lambda pk: Chain.objects.select_for_update(of=("self",)).select_related("question")
                          .filter(pk=pk), "int")


def _lock_row(chain_id: int, question_id: int) -> Chain:
    chain = _LOCKED.first(chain_id)
    if chain is None:
        raise Chain.DoesNotExist("Chain matching query does not exist.")
    if chain.question_id != question_id:  # the lease checked must be this chain's question's
        raise ReviewError("This chain does not belong to that question.")
    return chain


def _lock_chain(chain_id: int, seen_version: int, question_id: int) -> Chain:
    chain = _lock_row(chain_id, question_id)
    if chain.version != seen_version:
        last = chain.reviews.select_related("curator").order_by("-chain_version").first()
        by = f" by {last.curator.get_username()} ({last.get_action_display().lower()})" if last else ""
        raise StaleWrite(
            f"Chain #{card_number(chain)} changed{by} since you opened it (version {seen_version} → "
            f"{chain.version}); your decision was not saved. It is shown as it is now: decide again."
        )
    return chain


def _lock_stream(chain_id: int, seen_version: int, question_id: int,
                 user: AbstractBaseUser) -> tuple[Chain, list[Review]]:
    """Overlap: lock the chain and read its history; the curator's own stream must be the version they saw.

    Other curators' decisions never make a write stale (each stream is blind to the others); only the same
    curator deciding the chain elsewhere (another tab) does.
    """
    chain = _lock_row(chain_id, question_id)
    history = list(chain.reviews.select_related("revision").order_by("chain_version"))
    ruling = next((r for r in history if r.action == Action.ADJUDICATE), None)
    if ruling is not None:  # a curator's write would reopen the consensus the ruling settled
        raise Ruled(f"An admin ruled on chain #{card_number(chain)} ({ruling.to_decision}); it is closed to review "
                    "and your decision was not saved.")
    mine = stream_version(user.pk, history)
    if mine != seen_version:
        raise StaleWrite(
            f"You changed chain #{card_number(chain)} elsewhere since this page was opened (your version "
            f"{seen_version} → {mine}); this decision was not saved. It is shown as it is now: decide again."
        )
    return chain, history


# A decision's two writes, compiled once (webapp/core/prepared.py): building them cost as much CPU as the rest of
# the write. The chain moves from the version the curator saw to the next one, only if it is still that version.
_GUARDED_WRITE = PreparedUpdate(lambda pk, seen, decision: (Chain.objects.filter(pk=pk, version=seen),
                                                            {"version": F("version") + 1, "decision": decision}),
                                "int", "int", "str")
_REVIEW_ROW = PreparedInsert(Review)


def _write(chain: Chain, user: AbstractBaseUser, action: str, to_decision: str, seen_version: int,
           **fields: Any) -> Review:
    if not _GUARDED_WRITE.update(chain.pk, seen_version, to_decision):
        # only reachable where the row lock is a no-op (SQLite); the guard still holds
        raise StaleWrite("This chain changed while you were deciding; your decision was not saved.")
    review = _REVIEW_ROW.insert(Review(
        chain=chain, curator=user, action=action, from_decision=chain.decision, to_decision=to_decision,
        chain_version=seen_version, **fields,
    ))
    chain.decision, chain.version = to_decision, seen_version + 1
    return review


def _write_stream(chain: Chain, user: AbstractBaseUser, action: str, to_decision: str, seen_version: int,
                  history: list[Review], overlap: int, **fields: Any) -> Review:
    """Overlap: append to the curator's own stream (from → to are theirs) and store the consensus on the chain.

    The chain's version still moves with every review, under the same guarded UPDATE, so `chain_version` stays
    one total order of the chain's history and no two writes can both land on it.
    """
    mine = own_stack(user.pk, effective_stack(history))
    review = Review(chain=chain, curator=user, action=action, to_decision=to_decision,
                    from_decision=mine[-1].to_decision if mine else Decision.PENDING,
                    chain_version=chain.version, curator_version=seen_version, **fields)
    decision = consensus(list(standing_decisions(effective_stack([*history, review])).values()), overlap)
    if not _GUARDED_WRITE.update(chain.pk, chain.version, decision):
        # only reachable where the row lock is a no-op (SQLite); the guard still holds
        raise StaleWrite("This chain changed while you were deciding; your decision was not saved. Try again.")
    _REVIEW_ROW.insert(review)
    chain.decision, chain.version = decision, chain.version + 1
    return review


def _update_completion(user: AbstractBaseUser, question_id: int) -> bool:
    """Overlap: mark the curator's slot completed once their own stream decided every kept chain of the question
    (a completed slot is never handed to another curator), or open it again after an undo. Returns done."""
    kept = Chain.objects.filter(question_id=question_id, kept=True).values_list("id", flat=True)
    mine: dict[int, list[Review]] = defaultdict(list)
    for r in Review.objects.filter(chain_id__in=kept, curator=user).order_by("chain_version"):
        mine[r.chain_id].append(r)
    done = all(effective_stack(mine[chain_id]) for chain_id in kept)
    leases = Lease.objects.filter(question_id=question_id, curator=user)
    if done:
        leases.filter(completed_at__isnull=True).update(completed_at=timezone.now())
    else:
        leases.exclude(completed_at=None).update(completed_at=None)
    return done


def _question_of(chain_id: int, question_id: int | None, overlap: int | None) -> tuple[int, int]:
    """The chain's question and its dataset's review overlap; callers that loaded them pass them (no query)."""
    if question_id is None or overlap is None:
        question_id, overlap = Chain.objects.values_list("question_id", "question__dataset__review_overlap").get(
            pk=chain_id)
    return question_id, overlap


def decide(user: AbstractBaseUser, chain_id: int, seen_version: int, action: str, *, reason: str = "",
           note: str = "", edited_text: str = "", question_id: int | None = None,
           overlap: int | None = None) -> Review:
    """Accept, reject, edit (fix and accept) or flag one chain, if it is still the version the curator saw.

    With review overlap (N > 1) the version is the curator's own stream's and the chain takes the consensus.
    """
    if action not in TO_DECISION:
        raise ReviewError(f"Unknown action {action!r}.")
    with transaction.atomic():
        question_id, overlap = _question_of(chain_id, question_id, overlap)
        ensure_lease(user, question_id, overlap)
        if overlap > 1:
            chain, history = _lock_stream(chain_id, seen_version, question_id, user)
        else:
            chain = _lock_chain(chain_id, seen_version, question_id)
        if not chain.kept and TO_DECISION[action] == Decision.ACCEPTED:
            raise ReviewError(
                f"Chain #{card_number(chain)} was dropped by the teacher's selection ({chain.drop_reason or 'dropped'})"
                ": it cannot be accepted into the dataset. Reject or flag it instead.")
        parsed = parse_edit(edited_text, chain.question) if action == Action.EDIT else None
        fields = {"reason": reason, "note": note, "edited_text": parsed.text if parsed else ""}
        if overlap > 1:
            review = _write_stream(chain, user, action, TO_DECISION[action], seen_version, history, overlap,
                                   **fields)
        else:
            review = _write(chain, user, action, TO_DECISION[action], seen_version, **fields)
        if parsed is not None:
            store_revision(review, chain, parsed)
        if overlap > 1:
            _update_completion(user, question_id)
        failpoint("review.decide")  # every row written, the commit still to come
    logger.info("review %s: %s chain %s v%s by %s", review.pk, action, chain_id, seen_version, user.pk)
    return review


def undo(user: AbstractBaseUser, chain_id: int, seen_version: int, question_id: int | None = None,
         overlap: int | None = None) -> Review:
    """Take back the newest review still in force on a chain (with overlap: the curator's own newest); the undo
    is itself a history row."""
    with transaction.atomic():
        question_id, overlap = _question_of(chain_id, question_id, overlap)
        ensure_lease(user, question_id, overlap)
        if overlap > 1:
            chain, history = _lock_stream(chain_id, seen_version, question_id, user)
            stack = own_stack(user.pk, effective_stack(history))
        else:
            chain = _lock_chain(chain_id, seen_version, question_id)
            stack = chain_state(chain).stack
        if not stack:
            raise ReviewError("Nothing to undo on this chain.")
        undone = stack[-1]
        previous = stack[-2].to_decision if len(stack) > 1 else Decision.PENDING
        if overlap <= 1:
            return _write(chain, user, Action.UNDO, previous, seen_version, note=f"undid review {undone.pk}")
        review = _write_stream(chain, user, Action.UNDO, previous, seen_version, history, overlap,
                               note=f"undid review {undone.pk}")
        _update_completion(user, question_id)
        return review


def undoable(user: AbstractBaseUser, chain: Chain, overlap: int, reviews: list[Review] | None = None) -> bool:
    """Whether `u` has something to take back on the chain: any review in force (with overlap: one of mine), unless
    an admin ruled on it."""
    state = chain_state(chain, reviews)
    if state.ruling is not None:  # an admin ruled: closed to curators (decisions.Ruled)
        return False
    return bool(own_stack(user.pk, state.stack) if overlap > 1 else state.stack)


def last_undoable(user: AbstractBaseUser, question: Question) -> Chain | None:
    """What `u` takes back: my newest decision on this question, else my newest one anywhere (the item I just
    left by auto-advance)."""
    mine = Review.objects.filter(curator=user).exclude(action=Action.UNDO).order_by("-created_at", "-id")
    for scope in (mine.filter(chain__question=question), mine):
        review = scope.select_related("chain__question__dataset").first()
        if review is not None and undoable(user, review.chain, review.chain.question.dataset.review_overlap):
            return review.chain
    return None
