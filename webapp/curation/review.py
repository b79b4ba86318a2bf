"""Review rules: leases on questions, per-chain decisions checked against the version the curator saw, undo,
edits re-parsed, and the state derived from the append-only history.

Why conditional writes and not application locks: a lease is claimed by an INSERT (unique per question) or an
UPDATE guarded by "expired or already mine", and a decision by an UPDATE guarded by the version the curator saw.
The database re-checks those guards under concurrency on PostgreSQL and serialises writers on SQLite, so two
curators can never hold the same question and no decision is silently overwritten. On PostgreSQL the queue also
locks its candidate rows with SKIP LOCKED, so concurrent curators are handed different questions without waiting.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

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
QUEUE_BATCH = 8


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


def _active_lease_by_other(user: AbstractBaseUser, now: Any) -> QuerySet[Lease]:
    return Lease.objects.filter(question=OuterRef("pk"), expires_at__gt=now).exclude(curator=user)


def try_claim(user: AbstractBaseUser, question_id: int) -> bool:
    """Take or renew the lease on a question unless another curator holds an unexpired one."""
    now = timezone.now()
    until = now + timedelta(seconds=lease_seconds())
    updated = Lease.objects.filter(question_id=question_id).filter(Q(curator=user) | Q(expires_at__lte=now)).update(
        expires_at=until,
        acquired_at=Case(When(curator=user, expires_at__gt=now, then=F("acquired_at")), default=Value(now)),
        curator=user,
    )
    if updated:
        return True
    if Lease.objects.filter(question_id=question_id).exists():
        return False
    try:
        with transaction.atomic():  # a savepoint: a concurrent INSERT of the same question loses cleanly
            Lease.objects.create(question_id=question_id, curator=user, acquired_at=now, expires_at=until)
    except IntegrityError:
        return False
    return True


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
    if not try_claim(user, question_id):
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
    """
    chains = queue_chains if queue_chains is not None else pending_chains()
    now = timezone.now()
    candidates = Question.objects.filter(Exists(chains.filter(question=OuterRef("pk")))).exclude(
        Exists(_active_lease_by_other(user, now))
    )
    if after is None:
        mine = candidates.filter(lease__curator=user, lease__expires_at__gt=now).order_by("id").first()
        if mine is not None and try_claim(user, mine.pk):
            return mine
    windows = [candidates.filter(id__gt=after), candidates.filter(id__lte=after)] if after else [candidates]
    skip_locked = connection.features.has_select_for_update_skip_locked
    for window in windows:
        for _attempt in range(3):
            with transaction.atomic():
                qs = window.order_by("id")
                if skip_locked:
                    qs = qs.select_for_update(skip_locked=True, of=("self",))
                ids = list(qs.values_list("id", flat=True)[:QUEUE_BATCH])
                if not ids:
                    break
                for question_id in ids:
                    if try_claim(user, question_id):
                        release_others(user, keep_question_id=question_id)
                        return Question.objects.select_related("dataset", "clip").get(pk=question_id)
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


def _lock_chain(chain_id: int, seen_version: int) -> Chain:
    chain = Chain.objects.select_for_update(of=("self",)).select_related("question").get(pk=chain_id)
    if chain.version != seen_version:
        last = chain.reviews.select_related("curator").order_by("-chain_version").first()
        by = f" by {last.curator.get_username()} ({last.get_action_display().lower()})" if last else ""
        raise StaleWrite(
            f"Chain #{chain.sample_index} changed{by} since you opened it (version {seen_version} → "
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
           note: str = "", edited_text: str = "") -> Review:
    """Accept, reject, edit (fix and accept) or flag one chain, if it is still the version the curator saw."""
    if action not in _TO_DECISION:
        raise ReviewError(f"Unknown action {action!r}.")
    with transaction.atomic():
        question_id = Chain.objects.values_list("question_id", flat=True).get(pk=chain_id)
        ensure_lease(user, question_id)
        chain = _lock_chain(chain_id, seen_version)
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


def undo(user: AbstractBaseUser, chain_id: int, seen_version: int) -> Review:
    """Take back the newest review still in force on a chain; the undo is itself a history row."""
    with transaction.atomic():
        question_id = Chain.objects.values_list("question_id", flat=True).get(pk=chain_id)
        ensure_lease(user, question_id)
        chain = _lock_chain(chain_id, seen_version)
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
