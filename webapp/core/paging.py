"""Counting what a list shows without counting millions of rows on every page view.

An exact `count(*)` over 4M chains takes seconds in PostgreSQL (every visible row is read), and a paginated page
asks for one each time. Up to `EXACT_COUNT_UP_TO` rows the count stays exact; above it, PostgreSQL's planner
estimate of the same query is used (`reltuples` for a whole table, kept current by autovacuum's ANALYZE), and the
page says "about N". SQLite has no such estimate and serves small deployments: it counts exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet

EXACT_COUNT_UP_TO = 10_000
VERIFY_UP_TO = 10


def planner_rows(qs: QuerySet) -> int | None:
    """PostgreSQL's estimate of how many rows `qs` returns (EXPLAIN, nothing run); None elsewhere."""
    connection = connections[qs.db]
    if connection.vendor != "postgresql":
        return None
    try:
        sql, params = qs.order_by().query.sql_with_params()
    except EmptyResultSet:  # a filter Django knows matches nothing (`pk__in=[]`) compiles to no SQL at all
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


def bounded_count(qs: QuerySet, limit: int) -> int:
    """How many rows `qs` has, counting no further than `limit` + 1 (more than `limit` reads as limit + 1)."""
    return qs.order_by()[: limit + 1].count()


@dataclass(frozen=True)
class Tally:
    """A count as a page shows it: exact, or the planner's estimate ("about N")."""

    n: int
    estimated: bool = False

    def __str__(self) -> str:
        return f"about {self.n}" if self.estimated else str(self.n)

    def __bool__(self) -> bool:
        return bool(self.n)

    @property
    def shown(self) -> int | Tally:
        """An exact count as the plain int it always was; an estimate as itself ("about N" in a template)."""
        return self if self.estimated else self.n


def count_or_estimate(qs: QuerySet, *, verify: bool = False, counted: QuerySet | None = None,
                      estimate: Callable[[], int | None] | None = None) -> Tally:
    """How many rows `qs` has: exact up to EXACT_COUNT_UP_TO, PostgreSQL's estimate above it (never below the
    threshold, so an estimate is always a large number); exact on SQLite. `verify`: check an estimate of up to
    VERIFY_UP_TO times the threshold too (a bounded count), for queries whose estimate can be far too high (a
    deletion's nested subqueries guessed 27,000 shared chains where there were none); a larger one stands, since
    the bounded count of a query that large took seconds (its subqueries hashed before the first row). `counted`:
    the same rows written to be counted when few (cascade.Cascade.probe); `estimate`: the shown estimate, asked
    only when one is shown (cascade.Cascade.guessed_rows: `qs` is an OR the planner overestimates), while whether
    to count still follows the planner's view of `qs`, the query the bounded count runs and whose cost that view
    predicts."""
    guess = planner_rows(qs)
    if guess is None:
        return Tally(qs.count())
    if guess <= EXACT_COUNT_UP_TO * (VERIFY_UP_TO if verify else 1):  # the estimate may be low (or, verified,
        # high): count, but never past the threshold
        exact = bounded_count(qs if counted is None else counted, EXACT_COUNT_UP_TO)
        if exact <= EXACT_COUNT_UP_TO:
            return Tally(exact)
    if estimate is not None:
        guess = estimate() or guess
    return Tally(max(guess, EXACT_COUNT_UP_TO + 1), estimated=True)


class EstimatedCountPaginator(Paginator):
    """A paginator whose count is exact up to EXACT_COUNT_UP_TO rows and the planner's estimate above it."""

    estimated = False

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        qs = self.object_list.qs if isinstance(self.object_list, IdsFirst) else self.object_list
        if not isinstance(qs, QuerySet):
            return super().count
        tally = count_or_estimate(qs)
        self.estimated = tally.estimated
        return tally.n


class IdsFirst:
    """A queryset a Paginator slices in two steps: the page's ids alone (an index-only scan past the OFFSET), then
    those rows with their joins. Sliced whole, a joined query makes PostgreSQL join every row it skips: the last of
    10,000 pages joined 500k questions to their clips to show 50 (seconds)."""

    def __init__(self, qs: QuerySet) -> None:
        self.qs = qs

    def count(self) -> int:
        return self.qs.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list:
        ids = list(self.qs.values_list("pk", flat=True)[index])
        rows = self.qs.model._default_manager.none() if not ids else self.qs.filter(pk__in=ids)
        by_id = {row.pk: row for row in rows}
        return [by_id[i] for i in ids if i in by_id]
