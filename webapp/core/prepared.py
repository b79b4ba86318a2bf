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
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators
from django.db.models.signals import post_save, pre_save
from django.db.models.sql.compiler import SQLInsertCompiler
from django.db.models.sql.subqueries import InsertQuery, UpdateQuery
from django.db.transaction import TransactionManagementError

M = TypeVar("M")

# Marker values, by argument kind: integers and datetimes no query here uses as a constant. The integers fit every
# integer field, small positive ones included: Django drops a lookup whose value is out of its field's range on the
# backend (a negative or 32-bit sample index on PostgreSQL) instead of sending it.
_INT_MARKERS = (32_101, 32_102, 32_103, 32_104)
_TIME_MARKERS = tuple(datetime(1901, 2, 3, 4, 5, s, tzinfo=UTC) for s in (11, 22, 33, 44))
_STR_MARKERS = tuple(f"\x1fprepared-marker-{n}\x1f" for n in range(1, 5))


def _markers(kinds: Sequence[str]) -> list[Any]:
    pools = {"int": iter(_INT_MARKERS), "time": iter(_TIME_MARKERS), "str": iter(_STR_MARKERS)}
    return [next(pools[kind]) for kind in kinds]


def _slots(sql: str, params: Sequence[Any], markers: Sequence[Any]) -> list[list[int]]:
    """Where each marker sits in the parameters; a marker that is not one (folded into another value) is refused."""
    found = []
    for marker in markers:
        slots = [i for i, p in enumerate(params) if p == marker]
        if not slots:
            raise ValueError(f"marker {marker!r} is not a parameter of {sql}")
        found.append(slots)
    return found


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
        self.slots = _slots(self.sql, self.params, adapted)
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
        assert all(kind in ("int", "time", "str") for kind in kinds)  # noqa: S101
        self.build, self.kinds = build, kinds
        self._compiled: dict[tuple[str, str], _Compiled] = {}

    def _for(self, using: str) -> _Compiled:
        key = (using, connections[using].vendor)
        compiled = self._compiled.get(key)
        if compiled is None:
            markers = _markers(self.kinds)
            compiled = self._compiled[key] = _Compiled(self.build(*markers).using(using), self.kinds, markers)
        return compiled

    def all(self, *args: Any, using: str = "default") -> list[M]:
        return list(self._for(using).run(args))

    def first(self, *args: Any, using: str = "default") -> M | None:
        found = self.all(*args, using=using)
        return found[0] if found else None


class PreparedInsert(Generic[M]):
    """`PreparedInsert(Review).insert(review)`: the row saved as `review.save(force_insert=True)` saves it, with the
    INSERT compiled by Django once per database vendor.

    Why: a decision's Review.objects.create spent most of its CPU compiling the statement (quoting, placeholders,
    the RETURNING clause), not running it. Each call still takes every value through its field's own
    pre_save and get_db_prep_save, as the compiler does. Model signals are not sent: only for models that have no
    pre_save or post_save receivers (checked at each insert, so one added later is never silently skipped).
    """

    def __init__(self, model: type[Model]) -> None:
        self.model = model
        meta = model._meta
        self.fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field]
        self._compiled: dict[tuple[str, str], tuple[SQLInsertCompiler, str, Any]] = {}

    def _for(self, using: str) -> tuple[SQLInsertCompiler, str, Any]:
        connection = connections[using]
        key = (using, connection.vendor)
        compiled = self._compiled.get(key)
        if compiled is None:
            query = InsertQuery(self.model)
            query.insert_values(self.fields, [self.model()])
            compiler = query.get_compiler(using=using)
            meta = self.model._meta
            returning = connection.features.can_return_columns_from_insert and meta.auto_field is not None
            compiler.returning_fields = [meta.auto_field] if returning else None
            [(sql, params)] = compiler.as_sql()
            if len(params) != len(self.fields):  # a value compiled into the SQL could not be swapped
                raise ValueError(f"{self.model.__name__}: not one parameter per field in {sql}")
            compiled = self._compiled[key] = (compiler, sql, compiler.returning_params if returning else None)
        return compiled

    def insert(self, obj: M, using: str = "default") -> M:
        model = self.model
        if pre_save.has_listeners(model) or post_save.has_listeners(model):
            raise RuntimeError(f"{model.__name__} has save signal receivers: save it through the ORM")
        compiler, sql, returning = self._for(using)
        connection = connections[using]
        params = [compiler.prepare_value(f, compiler.pre_save_val(f, obj)) for f in self.fields]
        meta = model._meta
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            if meta.auto_field is not None:
                if returning is not None:
                    [value] = connection.ops.fetch_returned_insert_columns(cursor, returning)
                else:
                    value = connection.ops.last_insert_id(cursor, meta.db_table, meta.auto_field.column)
                setattr(obj, meta.auto_field.attname, value)
        obj._state.adding, obj._state.db = False, using  # type: ignore[attr-defined]
        return obj


class PreparedUpdate:
    """`build(*args)` → (a queryset, {field: value}); `PreparedUpdate(build, "int", "str").update(7, "x")` runs
    `queryset.update(**values)` with those values in place and returns the rows it changed, with the UPDATE
    compiled once per database vendor (the same markers as Prepared). Like QuerySet.update: no signals, no save()."""

    def __init__(self, build: Callable[..., tuple[QuerySet[Any], dict[str, Any]]], *kinds: str) -> None:
        assert all(kind in ("int", "time", "str") for kind in kinds)  # noqa: S101
        self.build, self.kinds = build, kinds
        self._compiled: dict[tuple[str, str], tuple[str, list[Any], list[list[int]]]] = {}

    def _for(self, using: str) -> tuple[str, list[Any], list[list[int]]]:
        connection = connections[using]
        key = (using, connection.vendor)
        compiled = self._compiled.get(key)
        if compiled is None:
            markers = _markers(self.kinds)
            queryset, values = self.build(*markers)
            query = queryset.query.chain(UpdateQuery)
            query.add_update_values(values)
            sql, params = query.get_compiler(using=using).as_sql()
            adapted = [_Compiled._adapt(connection, kind, m) for kind, m in zip(self.kinds, markers, strict=True)]
            compiled = self._compiled[key] = (sql, list(params), _slots(sql, params, adapted))
        return compiled

    def update(self, *args: Any, using: str = "default") -> int:
        connection = connections[using]
        sql, template, slots = self._for(using)
        params = list(template)
        for kind, where, value in zip(self.kinds, slots, args, strict=True):
            adapted = _Compiled._adapt(connection, kind, value)
            for i in where:
                params[i] = adapted
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount
