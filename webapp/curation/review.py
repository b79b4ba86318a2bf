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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
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


def _active_lease_by_other(user: AbstractBaseUser, now: Any, question: str = "pk") -> QuerySet[Lease]:
    return Lease.objects.filter(question=OuterRef(question), expires_at__gt=now).exclude(curator=user)


def try_claim(user: AbstractBaseUser, question_id: int) -> bool:
    """Take or renew the lease on a question unless another curator holds an unexpired one."""
    return claim(user, question_id) is not None


def claim(user: AbstractBaseUser, question_id: int) -> tuple[Lease, bool] | None:
    """try_claim, returning the lease and whether it is newly taken (not a renewal of the curator's own), or None.

    One statement, race-free on both backends: INSERT … ON CONFLICT (question) DO UPDATE … WHERE "mine or
    expired". PostgreSQL locks the conflicting row and re-evaluates the WHERE on its newest version, so of two
    concurrent claims exactly one wins; the loser gets no row back (no IntegrityError, no savepoint).
    """
    now = timezone.now()
    until = now + timedelta(seconds=lease_seconds())
    ops = connection.ops
    table = ops.quote_name(Lease._meta.db_table)
    at_now, at_until = ops.adapt_datetimefield_value(now), ops.adapt_datetimefield_value(until)
    sql = (
        f"INSERT INTO {table} (question_id, curator_id, acquired_at, expires_at) VALUES (%s, %s, %s, %s) "
        f"ON CONFLICT (question_id) DO UPDATE SET curator_id = EXCLUDED.curator_id, "
        f"expires_at = EXCLUDED.expires_at, acquired_at = CASE WHEN {table}.curator_id = EXCLUDED.curator_id "
        f"AND {table}.expires_at > %s THEN {table}.acquired_at ELSE EXCLUDED.acquired_at END "
        f"WHERE {table}.curator_id = EXCLUDED.curator_id OR {table}.expires_at <= %s RETURNING id, acquired_at"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [question_id, user.pk, at_now, at_until, at_now, at_now])
        row = cursor.fetchone()
    if row is None:
        return None
    lease = Lease.from_db(connection.alias, ["id", "question_id", "curator_id", "expires_at"],
                          [row[0], question_id, user.pk, until])
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
    """A curator works on one question at a time; moving on hands the previous one back at once."""
    now = timezone.now()
    Lease.objects.filter(curator=user, expires_at__gt=now).exclude(question_id=keep_question_id).update(
        expires_at=now
    )


def lease_holder(question_id: int) -> Lease | None:
    lease = Lease.objects.select_related("curator").filter(question_id=question_id).first()
    return lease if lease is not None and lease.is_active else None


def ensure_lease(user: AbstractBaseUser, question_id: int) -> None:
    claimed = claim(user, question_id)
    if claimed is not None and claimed[1]:  # taken afresh (the old one had expired): one question at a time
        release_others(user, keep_question_id=question_id)
    if claimed is None:
        lease = lease_holder(question_id)
        who = lease.curator.get_username() if lease else "another curator"
        until = f" until {timezone.localtime(lease.expires_at):%H:%M}" if lease else ""
        raise LeaseHeld(f"{who} is reviewing this question{until}; your decision was not saved.")


def pending_chains() -> QuerySet[Chain]:
    return Chain.objects.filter(kept=True, decision=Decision.PENDING)


def claim_next(
    user: AbstractBaseUser, queue_chains: QuerySet[Chain] | None = None, after: int | None = None
) -> Question | None:
    """The next question of the queue for this curator, leased to them; None when the queue is empty.

    Without `after` a curator first gets back the question they already hold (a reload resumes). With it (j,
    auto-advance) the queue continues after that question and wraps round.

    The candidates are read from the chain side: pending chains in question order, which the partial index
    `chain_pending_question` serves directly, so the cost does not grow with the reviewed (or total) questions.
    Reading from the question side made PostgreSQL walk every question from id 1 and probe its chains: 24 ms
    at 25k questions done (111 ms before VACUUM) against 0.4 ms here (see bench/review_load.py).
    """
    chains = queue_chains if queue_chains is not None else pending_chains()
    now = timezone.now()
    if after is None:
        mine = (Question.objects.filter(lease__curator=user, lease__expires_at__gt=now)
                .filter(Exists(chains.filter(question=OuterRef("pk")))).order_by("id").first())
        if mine is not None and try_claim(user, mine.pk):
            return mine
    free = chains.exclude(Exists(_active_lease_by_other(user, now, question="question")))
    windows = [free.filter(question_id__gt=after), free.filter(question_id__lte=after)] if after else [free]
    skip_locked = connection.features.has_select_for_update_skip_locked
    for window in windows:
        ids = window.order_by("question_id").values("question_id").distinct()[:QUEUE_WINDOW]
        for _attempt in range(3):
            with transaction.atomic():
                qs = Question.objects.filter(id__in=ids).order_by("id")
                if skip_locked:  # concurrent curators pass over each other's candidates instead of queueing
                    qs = qs.select_for_update(skip_locked=True, of=("self",))
                found = list(qs[:QUEUE_BATCH])
                if not found:
                    break
                for question in found:
                    if try_claim(user, question.pk):
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
    """Replay the history: an undo removes the newest review still in force."""
    stack: list[Review] = []
    for review in reviews:
        if review.action == Action.UNDO:
            if stack:
                stack.pop()
        else:
            stack.append(review)
    return stack


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


def card_number_and_done(chain: Chain) -> tuple[int, bool]:
    """card_number, and whether no chain of the question is pending any more (question_done): one query."""
    counts = Chain.objects.filter(question_id=chain.question_id, kept=True).aggregate(
        before=Count("id", filter=_before(chain)), pending=Count("id", filter=Q(decision=Decision.PENDING)))
    return counts["before"] + 1, not counts["pending"]


def _lock_chain(chain_id: int, seen_version: int, question_id: int) -> Chain:
    chain = Chain.objects.select_for_update(of=("self",)).select_related("question").get(pk=chain_id)
    if chain.question_id != question_id:  # the lease checked must be this chain's question's
        raise ReviewError("This chain does not belong to that question.")
    if chain.version != seen_version:
        last = chain.reviews.select_related("curator").order_by("-chain_version").first()
        by = f" by {last.curator.get_username()} ({last.get_action_display().lower()})" if last else ""
        raise StaleWrite(
            f"Chain #{card_number(chain)} changed{by} since you opened it (version {seen_version} → "
            f"{chain.version}); your decision was not saved. It is shown as it is now: decide again."
        )
    return chain


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


def decide(user: AbstractBaseUser, chain_id: int, seen_version: int, action: str, *, reason: str = "",
           note: str = "", edited_text: str = "", question_id: int | None = None) -> Review:
    """Accept, reject, edit (fix and accept) or flag one chain, if it is still the version the curator saw."""
    if action not in _TO_DECISION:
        raise ReviewError(f"Unknown action {action!r}.")
    with transaction.atomic():
        if question_id is None:  # the caller may pass the chain's question when it has loaded it already
            question_id = Chain.objects.values_list("question_id", flat=True).get(pk=chain_id)
        ensure_lease(user, question_id)
        chain = _lock_chain(chain_id, seen_version, question_id)
        parsed = parse_edit(edited_text, chain.question) if action == Action.EDIT else None
        review = _write(chain, user, action, _TO_DECISION[action], seen_version, reason=reason, note=note,
                        edited_text=parsed.text if parsed else "")
        if parsed is not None:
            ChainRevision.objects.create(
                review=review, chain=chain, text=parsed.text, parsed_answer=parsed.parsed_answer,
                open_answer=parsed.open_answer, is_correct=_is_correct(parsed, chain.question),
                format_ok=parsed.format_ok,
            )
    logger.info("review %s: %s chain %s v%s by %s", review.pk, action, chain_id, seen_version, user.pk)
    return review


def undo(user: AbstractBaseUser, chain_id: int, seen_version: int, question_id: int | None = None) -> Review:
    """Take back the newest review still in force on a chain; the undo is itself a history row."""
    with transaction.atomic():
        if question_id is None:  # the caller may pass the chain's question when it has loaded it already
            question_id = Chain.objects.values_list("question_id", flat=True).get(pk=chain_id)
        ensure_lease(user, question_id)
        chain = _lock_chain(chain_id, seen_version, question_id)
        state = chain_state(chain)
        if not state.stack:
            raise ReviewError("Nothing to undo on this chain.")
        undone = state.stack[-1]
        previous = state.stack[-2].to_decision if len(state.stack) > 1 else Decision.PENDING
        return _write(chain, user, Action.UNDO, previous, seen_version, note=f"undid review {undone.pk}")


def last_undoable(user: AbstractBaseUser, question: Question) -> Chain | None:
    """What `u` takes back: my newest decision on this question, else my newest one anywhere (the item I just
    left by auto-advance)."""
    mine = Review.objects.filter(curator=user).exclude(action=Action.UNDO).order_by("-created_at", "-id")
    for scope in (mine.filter(chain__question=question), mine):
        review = scope.select_related("chain").first()
        if review is not None and chain_state(review.chain).stack:
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

    Chains already in the target state, or in a question another curator holds, are skipped and counted.
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
                .exclude(decision=to_decision)
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
