"""Querysets compiled once per process and re-run with new values: the review hot path's reads.

Why: on the review pages Django spent more CPU building a query's SQL (resolving lookups, joins and select_related
columns) than PostgreSQL spent running it — a question read by id with its dataset and clip cost about 1 ms to
build against 0.17 ms to run (bench/review_cpu.py --profile). A `Prepared` query builds its queryset once, with
marker values in place of the arguments, keeps the SQL, the column list and the value converters Django made for
it, and later only swaps the markers in the parameter list for the call's values. Rows become model instances
(select_related ones attached) exactly as Django's own iterable makes them, so callers see ordinary objects.

The SQL is kept per database vendor (SQLite and PostgreSQL differ) and the marker values are ones no query holds
as a constant; a marker that does not come out as exactly one parameter is refused when the query is built, so a
query whose argument is rewritten (e.g. folded into a LIKE pattern) cannot be prepared by mistake.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from django.db import connections
from django.db.models import QuerySet
from django.db.models.query import get_related_populators
from django.db.transaction import TransactionManagementError

M = TypeVar("M")

# Marker values, by argument kind: integers and datetimes no query here uses as a constant. The integers fit every
# integer field, small positive ones included: Django drops a lookup whose value is out of its field's range on the
# backend (a negative or 32-bit sample index on PostgreSQL) instead of sending it.
_INT_MARKERS = (32_101, 32_102, 32_103, 32_104)
_TIME_MARKERS = tuple(datetime(1901, 2, 3, 4, 5, s, tzinfo=UTC) for s in (11, 22, 33, 44))


class _Compiled:
    """One vendor's SQL for a prepared query, where each argument goes in the parameters, and how rows become
    objects (or tuples, for a values_list query)."""

    def __init__(self, queryset: QuerySet[Any], kinds: Sequence[str], markers: Sequence[Any]) -> None:
        self.db = queryset.db
        connection = connections[self.db]
        self.compiler = compiler = queryset.query.get_compiler(using=self.db)
        self.sql, params = compiler.as_sql()
        self.for_update = queryset.query.select_for_update and connection.features.has_select_for_update
        adapted = [self._adapt(connection, kind, marker) for kind, marker in zip(kinds, markers, strict=True)]
        self.params = list(params)
        self.slots: list[list[int]] = []
        for marker in adapted:
            slots = [i for i, p in enumerate(self.params) if p == marker]
            if not slots:
                raise ValueError(f"marker {marker!r} is not a parameter of {self.sql}")
            self.slots.append(slots)
        self.kinds = list(kinds)
        fields = [s[0] for s in compiler.select[0:compiler.col_count]]
        self.converters = compiler.get_converters(fields)
        self.models = queryset._iterable_class.__name__ == "ModelIterable"
        if self.models:
            klass_info = compiler.klass_info
            self.model = klass_info["model"]
            select_fields = klass_info["select_fields"]
            self.start, self.end = select_fields[0], select_fields[-1] + 1
            self.init_list = [f[0].target.attname for f in compiler.select[self.start:self.end]]
            self.klass_info, self.select = klass_info, compiler.select
            assert not compiler.annotation_col_map and not queryset._known_related_objects  # noqa: S101

    @staticmethod
    def _adapt(connection: Any, kind: str, value: Any) -> Any:
        return connection.ops.adapt_datetimefield_value(value) if kind == "time" else value

    def run(self, args: Sequence[Any]) -> Iterator[Any]:
        connection = connections[self.db]
        if self.for_update and connection.get_autocommit():
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        params = list(self.params)
        for kind, slots, value in zip(self.kinds, self.slots, args, strict=True):
            adapted = self._adapt(connection, kind, value)
            for i in slots:
                params[i] = adapted
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            rows: Any = cursor.fetchall()
        if self.converters:
            rows = self.compiler.apply_converters(rows, self.converters)
        if not self.models:
            yield from (tuple(row) for row in rows)
            return
        populators = get_related_populators(self.klass_info, self.select, self.db)
        for row in rows:
            obj = self.model.from_db(self.db, self.init_list, row[self.start:self.end])
            for populator in populators:
                populator.populate(row, obj)
            yield obj


class Prepared(Generic[M]):
    """`build(*args)` → a queryset; `Prepared(build, "int", "time")(7, now)` runs it with those values.

    `build` is called once per database vendor with marker values, so it must use its arguments only as plain
    filter values (ids, datetimes), the same way every time.
    """

    def __init__(self, build: Callable[..., QuerySet[Any]], *kinds: str) -> None:
        assert all(kind in ("int", "time") for kind in kinds)  # noqa: S101
        self.build, self.kinds = build, kinds
        self._compiled: dict[tuple[str, str], _Compiled] = {}

    def _for(self, using: str) -> _Compiled:
        key = (using, connections[using].vendor)
        compiled = self._compiled.get(key)
        if compiled is None:
            ints, times = iter(_INT_MARKERS), iter(_TIME_MARKERS)
            markers = [next(ints) if kind == "int" else next(times) for kind in self.kinds]
            compiled = self._compiled[key] = _Compiled(self.build(*markers).using(using), self.kinds, markers)
        return compiled

    def all(self, *args: Any, using: str = "default") -> list[M]:
        return list(self._for(using).run(args))

    def first(self, *args: Any, using: str = "default") -> M | None:
        found = self.all(*args, using=using)
        return found[0] if found else None
