"""Leases: who is reviewing a question now, handed over by conditional writes, never application locks.

A lease is claimed by one INSERT … ON CONFLICT (question, slot) DO UPDATE guarded by "mine, or expired and not
completed": the database re-checks the guard under concurrency on PostgreSQL and serialises writers on SQLite, so two
curators can never hold the same slot, and an abandoned lease simply expires. With review overlap N a question has
N slots and a curator holds at most one of them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from webapp.catalog.models import Question
from webapp.curation.models import Lease
from webapp.curation.review.errors import LeaseHeld


def lease_seconds() -> int:
    return int(settings.REVIEW_LEASE_SECONDS)


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
