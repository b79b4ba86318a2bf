"""Room for PostgreSQL to hash a big subquery: `SET LOCAL work_mem` for one transaction.

Why: a `x IN (subquery)` (or one under an OR) is hashed only if the subquery's rows fit in `work_mem`, 4 MB by
default; past that PostgreSQL re-scans the subquery for every outer row. At 500k questions the deletion
preview's refusal check and the dataset page's split-leakage report each ran past the 60 s statement timeout that
way; with 64 MB they take seconds (docs/benchmarks.md). LOCAL, so the setting ends with the transaction and never
leaks into the next request on a kept connection. SQLite needs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connections, transaction

WORK_MEM = "64MB"


@contextmanager
def room_to_hash(using: str = "default") -> Iterator[None]:
    """A transaction in which PostgreSQL may use `WORK_MEM` per hash or sort."""
    connection = connections[using]
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
        yield
