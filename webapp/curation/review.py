"""Review rules: leases on questions, per-chain decisions checked against the version the curator saw, undo,
edits re-parsed, and the state derived from the append-only history.

Why conditional writes and not application locks: a lease is claimed by one INSERT … ON CONFLICT (question) DO
UPDATE guarded by "expired or already mine", and a decision by an UPDATE guarded by the version the curator saw.
The database re-checks those guards under concurrency on PostgreSQL and serialises writers on SQLite, so two
curators can never hold the same question and no decision is silently overwritten. On PostgreSQL the queue also
locks its candidate rows with SKIP LOCKED, so concurrent curators are handed different questions without waiting.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from webapp.catalog.models import Question
from webapp.curation.models import BulkAction, Chain, ChainRevision, Lease, Review

try:  # the shared answer parser (pipeline/answers.py); the fallback keeps review usable without it
    from pipeline.answers import extract_answer, extract_open_answer, format_ok
except ImportError:  # pragma: no cover - only while pipeline/answers.py is absent
    extract_answer = extract_open_answer = format_ok = None  # type: ignore[assignment]

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
_TO_DECISION = {
    Action.ACCEPT: Decision.ACCEPTED, Action.REJECT: Decision.REJECTED,
    Action.EDIT: Decision.ACCEPTED,  # an edit is "fix and accept"
    Action.FLAG: Decision.FLAGGED,
}
_ENDS_IN_ANSWER = re.compile(r"<answer>(?P<inner>(?:(?!</?answer>).)+)</answer>\s*\Z", re.DOTALL | re.IGNORECASE)
QUEUE_BATCH = 8  # candidate questions locked per attempt
QUEUE_WINDOW = 64  # pending questions read before locking (leased ones are already left out)


class ReviewError(Exception):
    """A refused write; `message` is what the curator reads."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StaleWrite(ReviewError):
    status = 409


class LeaseHeld(ReviewError):
    status = 409


class InvalidEdit(ReviewError):
    status = 400


def lease_seconds() -> int:
    return int(settings.REVIEW_LEASE_SECONDS)


# --- leases -------------------------------------------------------------------------------------------------


def try_claim(user: AbstractBaseUser, question_id: int, overlap: int | None = None) -> bool:
    """Take or renew a lease on a question unless its slots are held by other curators."""
    return claim(user, question_id, overlap) is not None


def overlap_of(question_id: int) -> int:
    return Question.objects.values_list("dataset__review_overlap", flat=True).get(pk=question_id)


def claim(user: AbstractBaseUser, question_id: int, overlap: int | None = None) -> tuple[Lease, bool] | None:
    """try_claim, returning the lease and whether it is newly taken (not a renewal of the curator's own), or None.

    Single review (overlap 1): one statement on slot 0, as it always was. With overlap N the curator renews the
    slot they already hold, else takes the first slot that is free (never taken, or expired and not completed);
    each attempt is the same guarded statement, so concurrent curators end up in different slots.
    """
    overlap = overlap if overlap is not None else overlap_of(question_id)
    if overlap <= 1:
        return _claim_slot(user, question_id, 0)
    now = timezone.now()
    leases = list(Lease.objects.filter(question_id=question_id).values_list("slot", "curator_id", "expires_at",
                                                                           "completed_at"))
    own = [slot for slot, curator, _, _ in leases if curator == user.pk]
    taken = {slot for slot, _, expires, completed in leases if expires > now or completed is not None}
    for slot in own or [s for s in range(overlap) if s not in taken]:
        try:
            with transaction.atomic():  # a savepoint: the curator may have taken another slot meanwhile
                claimed = _claim_slot(user, question_id, slot)
        except IntegrityError:  # lease_one_slot_per_curator: renew that one instead
            return claim(user, question_id, overlap) if not own else None
        if claimed is not None:
            return claimed
    return None


def _claim_slot(user: AbstractBaseUser, question_id: int, slot: int) -> tuple[Lease, bool] | None:
    """One statement, race-free on both backends: INSERT … ON CONFLICT (question, slot) DO UPDATE … WHERE "mine,
    or expired and not completed". PostgreSQL locks the conflicting row and re-evaluates the WHERE on its newest
    version, so of two concurrent claims exactly one wins; the loser gets no row back (no IntegrityError, no
    savepoint). `completed_at` is only ever set with review overlap, so for single review the guard is "mine or
    expired".
    """
    now = timezone.now()
    until = now + timedelta(seconds=lease_seconds())
    ops = connection.ops
    table = ops.quote_name(Lease._meta.db_table)
    at_now, at_until = ops.adapt_datetimefield_value(now), ops.adapt_datetimefield_value(until)
    sql = (
        f"INSERT INTO {table} (question_id, slot, curator_id, acquired_at, expires_at) VALUES (%s, %s, %s, %s, %s) "
        f"ON CONFLICT (question_id, slot) DO UPDATE SET curator_id = EXCLUDED.curator_id, "
        f"expires_at = EXCLUDED.expires_at, acquired_at = CASE WHEN {table}.curator_id = EXCLUDED.curator_id "
        f"AND {table}.expires_at > %s THEN {table}.acquired_at ELSE EXCLUDED.acquired_at END "
        f"WHERE {table}.curator_id = EXCLUDED.curator_id "
        f"OR ({table}.expires_at <= %s AND {table}.completed_at IS NULL) RETURNING id, acquired_at"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [question_id, slot, user.pk, at_now, at_until, at_now, at_now])
        row = cursor.fetchone()
    if row is None:
        return None
    lease = Lease.from_db(connection.alias, ["id", "question_id", "slot", "curator_id", "expires_at"],
                          [row[0], question_id, slot, user.pk, until])
    lease.curator = user
    return lease, _as_aware(row[1]) == now  # a renewal kept the older acquired_at


def _as_aware(value: Any) -> datetime | None:
    """A datetime read back by raw SQL: aware on PostgreSQL; naive UTC or text on SQLite."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


def release_others(user: AbstractBaseUser, keep_question_id: int | None = None) -> None:
    """A curator works on one question at a time; moving on hands the previous one back at once (a completed
    overlap slot stays the curator's: expiring it hands it to no one)."""
    now = timezone.now()
    Lease.objects.filter(curator=user, expires_at__gt=now).exclude(question_id=keep_question_id).update(
        expires_at=now
    )


def lease_holder(question_id: int, user: AbstractBaseUser | None = None) -> Lease | None:
    """The active lease to show on a question's page: the curator's own if they hold one, else another's."""
    leases = list(Lease.objects.select_related("curator").filter(question_id=question_id,
                                                                 expires_at__gt=timezone.now()))
    own = [lease for lease in leases if user is not None and lease.curator_id == user.pk]
    return (own or leases or [None])[0]


def ensure_lease(user: AbstractBaseUser, question_id: int, overlap: int | None = None) -> None:
    overlap = overlap if overlap is not None else overlap_of(question_id)
    claimed = claim(user, question_id, overlap)
    if claimed is not None and claimed[1]:  # taken afresh (the old one had expired): one question at a time
        release_others(user, keep_question_id=question_id)
    if claimed is None:
        if overlap > 1:
            raise LeaseHeld(f"This question already has its {overlap} curators (review overlap); "
                            "your decision was not saved.")
        lease = lease_holder(question_id)
        who = lease.curator.get_username() if lease else "another curator"
        until = f" until {timezone.localtime(lease.expires_at):%H:%M}" if lease else ""
        raise LeaseHeld(f"{who} is reviewing this question{until}; your decision was not saved.")


def pending_chains() -> QuerySet[Chain]:
    return Chain.objects.filter(kept=True, decision=Decision.PENDING)


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


def claim_next(
    user: AbstractBaseUser, queue_chains: QuerySet[Chain] | None = None, after: int | None = None
) -> Question | None:
    """The next question of the queue for this curator, leased to them; None when the queue is empty.

    Without `after` a curator first gets back the question they already hold (a reload resumes). With it (j,
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
        mine = (Question.objects.filter(leases__curator=user, leases__expires_at__gt=now,
                                        leases__completed_at__isnull=True)
                .filter(Exists(chains.filter(question=OuterRef("pk")))).select_related("dataset")
                .order_by("id").first())
        if mine is not None and try_claim(user, mine.pk, mine.dataset.review_overlap):
            return mine
    free = _open_to(user, chains, now)
    windows = [free.filter(question_id__gt=after), free.filter(question_id__lte=after)] if after else [free]
    skip_locked = connection.features.has_select_for_update_skip_locked
    for window in windows:
        ids = window.order_by("question_id").values("question_id").distinct()[:QUEUE_WINDOW]
        for _attempt in range(3):
            with transaction.atomic():
                qs = Question.objects.filter(id__in=ids).select_related("dataset").order_by("id")
                if skip_locked:  # concurrent curators pass over each other's candidates instead of queueing
                    qs = qs.select_for_update(skip_locked=True, of=("self",))
                found = list(qs[:QUEUE_BATCH])
                if not found:
                    break
                for question in found:
                    if try_claim(user, question.pk, question.dataset.review_overlap):
                        release_others(user, keep_question_id=question.pk)
                        return question
    return None


# --- derived state ------------------------------------------------------------------------------------------


@dataclass
class ChainState:
    """What the history says a chain is now: its decision, its current text, and the reviews still in force."""

    chain: Chain
    stack: list[Review] = field(default_factory=list)

    @property
    def top(self) -> Review | None:
        return self.stack[-1] if self.stack else None

    @property
    def revision(self) -> ChainRevision | None:
        for review in reversed(self.stack):
            if review.action == Action.EDIT:
                return review.revision
        return None

    @property
    def text(self) -> str:
        revision = self.revision
        return revision.text if revision is not None else self.chain.text


def effective_stack(reviews: list[Review]) -> list[Review]:
    """Replay the history: an undo removes the newest review still in force. With review overlap each curator
    has their own stream (the undo carries a curator_version): it removes that curator's newest one only."""
    stack: list[Review] = []
    for review in reviews:
        if review.action != Action.UNDO:
            stack.append(review)
            continue
        for i in range(len(stack) - 1, -1, -1):
            if review.curator_version is None or stack[i].curator_id == review.curator_id:
                del stack[i]
                break
    return stack


def standing_decisions(stack: list[Review]) -> dict[int, str]:
    """curator id → that curator's decision still in force on the chain (their newest review left standing)."""
    return {review.curator_id: review.to_decision for review in stack}


def consensus(decisions: list[str], overlap: int) -> str:
    """The chain's decision under review overlap, from each curator's standing decision (one per curator).

    Pending until `overlap` curators have decided, so the question stays in the queue; then the decision that
    more than half of them share; without such a majority (a tie, or three ways) it is flagged, to be looked at
    again. An edit counts as "accepted". Exports read this decision (and the newest edit still in force).

    >>> consensus(["accepted"], 2)
    'pending'
    >>> consensus(["accepted", "accepted"], 2)
    'accepted'
    >>> consensus(["accepted", "rejected"], 2)
    'flagged'
    >>> consensus(["rejected", "accepted", "rejected"], 3)
    'rejected'
    """
    votes = [d for d in decisions if d != Decision.PENDING]
    if len(votes) < overlap:
        return Decision.PENDING.value
    top, n = Counter(votes).most_common(1)[0]
    return str(top) if 2 * n > len(votes) else Decision.FLAGGED.value


def own_stack(user_id: int, stack: list[Review]) -> list[Review]:
    return [review for review in stack if review.curator_id == user_id]


def stream_version(user_id: int, reviews: list[Review]) -> int:
    """The version of a curator's own stream on a chain (overlap): how many reviews they have written on it."""
    return sum(1 for review in reviews if review.curator_id == user_id)


def chain_state(chain: Chain, reviews: list[Review] | None = None) -> ChainState:
    if reviews is None:
        reviews = list(chain.reviews.select_related("revision", "curator").order_by("chain_version"))
    return ChainState(chain=chain, stack=effective_stack(reviews))


# --- edits --------------------------------------------------------------------------------------------------


@dataclass
class ParsedEdit:
    text: str
    parsed_answer: int | None
    open_answer: str
    format_ok: bool


def parse_edit(text: str, question: Question) -> ParsedEdit:
    """An edit must still end in a valid <answer>: for a multiple-choice question, one of its options."""
    text = text.replace("\r\n", "\n").strip()
    match = _ENDS_IN_ANSWER.search(text)
    if not text or match is None:
        raise InvalidEdit("The edited chain must end in <answer>…</answer>.")
    if question.choices:
        index = extract_answer(text, question.choices) if extract_answer else _local_letter(match["inner"], question)
        if index is None:
            letters = "/".join(letter for letter, _, _ in question.lettered_choices)
            raise InvalidEdit(f"The final <answer> must name one of the options ({letters}).")
        return ParsedEdit(text, index, "", bool(format_ok and format_ok(text)))
    answer = (extract_open_answer(text) if extract_open_answer else match["inner"].strip()) or ""
    if not answer:
        raise InvalidEdit("The final <answer> is empty.")
    return ParsedEdit(text, None, answer, bool(format_ok and format_ok(text)))


def _local_letter(inner: str, question: Question) -> int | None:  # pragma: no cover - fallback parser
    token = inner.strip().strip("()[]. ").upper()
    index = ord(token) - ord("A") if len(token) == 1 and token.isalpha() else -1
    return index if 0 <= index < len(question.choices) else None


def _is_correct(parsed: ParsedEdit, question: Question) -> bool | None:
    if question.choices:
        return parsed.parsed_answer == question.answer_index if question.answer_index is not None else None
    from pipeline.answers import normalize

    return normalize(parsed.open_answer) == normalize(question.answer_text)


# --- decisions ----------------------------------------------------------------------------------------------


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
    counts = Chain.objects.filter(question_id=chain.question_id, kept=True).aggregate(
        before=Count("id", filter=_before(chain)), pending=Count("id", filter=Q(decision=Decision.PENDING)))
    return counts["before"] + 1, not counts["pending"]


def _lock_row(chain_id: int, question_id: int) -> Chain:
    chain = Chain.objects.select_for_update(of=("self",)).select_related("question").get(pk=chain_id)
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
    mine = stream_version(user.pk, history)
    if mine != seen_version:
        raise StaleWrite(
            f"You changed chain #{card_number(chain)} elsewhere since this page was opened (your version "
            f"{seen_version} → {mine}); this decision was not saved. It is shown as it is now: decide again."
        )
    return chain, history


def _write(chain: Chain, user: AbstractBaseUser, action: str, to_decision: str, seen_version: int,
           **fields: Any) -> Review:
    updated = Chain.objects.filter(pk=chain.pk, version=seen_version).update(
        version=seen_version + 1, decision=to_decision
    )
    if not updated:  # only reachable where the row lock is a no-op (SQLite); the guard still holds
        raise StaleWrite("This chain changed while you were deciding; your decision was not saved.")
    review = Review.objects.create(
        chain=chain, curator=user, action=action, from_decision=chain.decision, to_decision=to_decision,
        chain_version=seen_version, **fields,
    )
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
    updated = Chain.objects.filter(pk=chain.pk, version=chain.version).update(version=chain.version + 1,
                                                                              decision=decision)
    if not updated:  # only reachable where the row lock is a no-op (SQLite); the guard still holds
        raise StaleWrite("This chain changed while you were deciding; your decision was not saved. Try again.")
    review.save(force_insert=True)
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
    if action not in _TO_DECISION:
        raise ReviewError(f"Unknown action {action!r}.")
    with transaction.atomic():
        question_id, overlap = _question_of(chain_id, question_id, overlap)
        ensure_lease(user, question_id, overlap)
        if overlap > 1:
            chain, history = _lock_stream(chain_id, seen_version, question_id, user)
        else:
            chain = _lock_chain(chain_id, seen_version, question_id)
        parsed = parse_edit(edited_text, chain.question) if action == Action.EDIT else None
        fields = {"reason": reason, "note": note, "edited_text": parsed.text if parsed else ""}
        if overlap > 1:
            review = _write_stream(chain, user, action, _TO_DECISION[action], seen_version, history, overlap,
                                   **fields)
        else:
            review = _write(chain, user, action, _TO_DECISION[action], seen_version, **fields)
        if parsed is not None:
            ChainRevision.objects.create(
                review=review, chain=chain, text=parsed.text, parsed_answer=parsed.parsed_answer,
                open_answer=parsed.open_answer, is_correct=_is_correct(parsed, chain.question),
                format_ok=parsed.format_ok,
            )
        if overlap > 1:
            _update_completion(user, question_id)
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
    """Whether `u` has something to take back on the chain: any review in force (with overlap: one of mine)."""
    stack = chain_state(chain, reviews).stack
    return bool(own_stack(user.pk, stack) if overlap > 1 else stack)


def last_undoable(user: AbstractBaseUser, question: Question) -> Chain | None:
    """What `u` takes back: my newest decision on this question, else my newest one anywhere (the item I just
    left by auto-advance)."""
    mine = Review.objects.filter(curator=user).exclude(action=Action.UNDO).order_by("-created_at", "-id")
    for scope in (mine.filter(chain__question=question), mine):
        review = scope.select_related("chain__question__dataset").first()
        if review is not None and undoable(user, review.chain, review.chain.question.dataset.review_overlap):
            return review.chain
    return None


def question_done(question_id: int) -> bool:
    return not pending_chains().filter(question_id=question_id).exists()


def previous_question_id(user: AbstractBaseUser, question: Question) -> int | None:
    """`k`: the question this curator reviewed last before this one."""
    row = (Review.objects.filter(curator=user).exclude(chain__question=question).order_by("-created_at", "-id")
           .values_list("chain__question_id", flat=True).first())
    return row


# --- bulk ---------------------------------------------------------------------------------------------------

BULK_BATCH = 500


def bulk_apply(bulk: BulkAction, chains: QuerySet[Chain], user: AbstractBaseUser) -> tuple[int, int]:
    """Apply a bulk accept/reject chain by chain (one Review each), in batches; returns (applied, skipped).

    Chains already in the target state, or in a question another curator holds, are skipped and counted, and so
    are the chains of datasets under review overlap: a bulk decision would stand in for the blind, per-curator
    reviews that an agreement study exists to collect.
    """
    to_decision = _TO_DECISION[bulk.action]
    note = f"bulk #{bulk.pk}" + (f": {bulk.note}" if bulk.note else "")
    ids = list(chains.order_by("id").values_list("id", flat=True))
    applied = 0
    for start in range(0, len(ids), BULK_BATCH):
        batch = ids[start:start + BULK_BATCH]
        with transaction.atomic():
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
    skipped = len(ids) - applied
    BulkAction.objects.filter(pk=bulk.pk).update(applied_count=applied, skipped_count=skipped)
    bulk.applied_count, bulk.skipped_count = applied, skipped
    return applied, skipped
