"""Insert many plain rows into a model's table at once: `COPY` on PostgreSQL, one `executemany` on SQLite.

Why not `bulk_create`: at import sizes (tens of thousands of rows) Django's insert compiler, which prepares every
field of every model instance one call at a time, cost several times what the database did. This sends the same
values, adapted by the same fields, without building model instances: columns whose fields store Python values as
they are (strings, numbers, keys) pass through, the others (JSON, dates) go through their field's
`get_db_prep_save`, and every column not given gets its field's default, computed once per call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model

_AS_IS = frozenset({
    "AutoField", "BigAutoField", "BigIntegerField", "BooleanField", "CharField", "FloatField", "ForeignKey",
    "IntegerField", "PositiveBigIntegerField", "PositiveIntegerField", "PositiveSmallIntegerField", "SlugField",
    "SmallIntegerField", "TextField",
})


def insert_rows(model: type[Model], columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """INSERT `rows` (values in the order of `columns`, field attnames) into `model`'s table; errors are Django's
    (IntegrityError, DataError), so a caller's `transaction.atomic()` block sees them as it would `save()`'s."""
    connection = connections[DEFAULT_DB_ALIAS]  # the connection itself: the proxy looks it up on every use
    meta = model._meta
    fields = [meta.get_field(name) for name in columns]
    given = {f.attname for f in fields}
    rest = [f for f in meta.concrete_fields if f.attname not in given and not f.primary_key]
    defaults = [f.get_db_prep_save(f.get_default(), connection) for f in rest]
    prepare = [(i, f) for i, f in enumerate(fields) if f.get_internal_type() not in _AS_IS]
    names_list = [connection.ops.quote_name(f.column) for f in [*fields, *rest]]
    names, table = ", ".join(names_list), connection.ops.quote_name(meta.db_table)
    params = []
    for row in rows:
        values = [*row, *defaults]
        for i, f in prepare:
            values[i] = f.get_db_prep_save(values[i], connection)
        params.append(values)
    if not params:
        return
    with connection.cursor() as cursor:
        raw = cursor.cursor
        if connection.vendor == "postgresql" and hasattr(raw, "copy"):  # psycopg 3: COPY, a statement per row costs
            with connection.wrap_database_errors, raw.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in params:
                    copy.write_row(row)
        else:
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join(['%s'] * len(names_list))})",
                               params)
