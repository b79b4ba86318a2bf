"""Counters behind the Datasets page (`/`): clips per dataset and status (with their bytes), questions per dataset.

At 500k questions the page's two GROUP BYs over every clip and question took 530-730 ms; these tallies are kept by
database triggers in the transaction of each write, as the review dashboards' are (curation/review/tallies.py says
why triggers): imports, ingest status changes, re-queues, dataset deletion all reach them. PostgreSQL counts
inserts and deletes per statement (transition tables), updates per row and only when the dataset, status or size
changes; SQLite per row. A load that bypasses triggers calls `rebuild`.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Count, Sum

from webapp.catalog.models import Clip, ClipTally, Question, QuestionTally

TRIGGERS = ["clip_insert", "clip_update", "clip_delete", "question_insert", "question_update", "question_delete"]

_PG = {
    "clip": """
INSERT INTO catalog_cliptally AS t (dataset_id, status, n, size_bytes)
SELECT dataset_id, status, SUM(d), SUM(d * COALESCE(size_bytes, 0)) FROM ({src}) c GROUP BY 1, 2 ORDER BY 1, 2
ON CONFLICT (dataset_id, status) DO UPDATE SET n = t.n + EXCLUDED.n, size_bytes = t.size_bytes + EXCLUDED.size_bytes;
""",
    "question": """
INSERT INTO catalog_questiontally AS t (dataset_id, n)
SELECT dataset_id, SUM(d) FROM ({src}) q GROUP BY 1 HAVING SUM(d) <> 0 ORDER BY 1
ON CONFLICT (dataset_id) DO UPDATE SET n = t.n + EXCLUDED.n;
""",
}
COLUMNS = {"clip": ["dataset_id", "status", "size_bytes"], "question": ["dataset_id"]}


def _postgresql() -> list[str]:
    statements = []
    for table, sql in _PG.items():
        cols = ", ".join(COLUMNS[table])
        sources = {
            "insert": f"SELECT {cols}, 1 AS d FROM new_rows",
            "delete": f"SELECT {cols}, -1 AS d FROM old_rows",
            "update": " UNION ALL ".join(f"SELECT {', '.join(f'{r}.{c}' for c in COLUMNS[table])}, {d} AS d"
                                         for r, d in (("OLD", -1), ("NEW", 1))),
        }
        for event, src in sources.items():
            name = f"catalog_tally_{table}_{event}"
            statements.append(f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
                              f"BEGIN\n{sql.format(src=src)}\nRETURN NULL;\nEND $$;")
            if event == "update":
                changed = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in COLUMNS[table])
                when = f"UPDATE OF {cols} ON catalog_{table} FOR EACH ROW WHEN ({changed})"
            else:
                rows = "NEW TABLE AS new_rows" if event == "insert" else "OLD TABLE AS old_rows"
                when = f"{event.upper()} ON catalog_{table} REFERENCING {rows} FOR EACH STATEMENT"
            statements.append(f"CREATE TRIGGER {name} AFTER {when} EXECUTE FUNCTION {name}()")
    return statements


def _sqlite_delta(table: str, row: str, d: int) -> str:
    if table == "clip":
        return f"""
INSERT INTO catalog_cliptally (dataset_id, status, n, size_bytes)
SELECT {row}.dataset_id, {row}.status, {d}, {d} * COALESCE({row}.size_bytes, 0) WHERE true
ON CONFLICT (dataset_id, status) DO UPDATE SET n = n + excluded.n, size_bytes = size_bytes + excluded.size_bytes;"""
    return f"""
INSERT INTO catalog_questiontally (dataset_id, n) SELECT {row}.dataset_id, {d} WHERE true
ON CONFLICT (dataset_id) DO UPDATE SET n = n + excluded.n;"""


def _sqlite() -> list[str]:
    statements = []
    for table in COLUMNS:
        changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in COLUMNS[table])
        statements += [
            f"CREATE TRIGGER catalog_tally_{table}_insert AFTER INSERT ON catalog_{table} BEGIN "
            f"{_sqlite_delta(table, 'NEW', 1)} END",
            f"CREATE TRIGGER catalog_tally_{table}_delete AFTER DELETE ON catalog_{table} BEGIN "
            f"{_sqlite_delta(table, 'OLD', -1)} END",
            f"CREATE TRIGGER catalog_tally_{table}_update AFTER UPDATE OF {', '.join(COLUMNS[table])} ON "
            f"catalog_{table} WHEN {changed} BEGIN {_sqlite_delta(table, 'OLD', -1)} "
            f"{_sqlite_delta(table, 'NEW', 1)} END",
        ]
    return statements


def _statements(conn: BaseDatabaseWrapper, install: bool) -> list[str]:
    if conn.vendor == "postgresql":
        drop = [f"DROP TRIGGER IF EXISTS catalog_tally_{t} ON catalog_{t.split('_')[0]}" for t in TRIGGERS]
        return drop + [f"DROP FUNCTION IF EXISTS catalog_tally_{t}()" for t in TRIGGERS] + (
            _postgresql() if install else [])
    if conn.vendor == "sqlite":
        return [f"DROP TRIGGER IF EXISTS catalog_tally_{t}" for t in TRIGGERS] + (_sqlite() if install else [])
    raise NotImplementedError(f"catalog tallies: no triggers for {conn.vendor}")


def install_triggers(conn: BaseDatabaseWrapper = connection) -> None:
    with conn.cursor() as cursor:
        for statement in _statements(conn, install=True):
            cursor.execute(statement)


def drop_triggers(conn: BaseDatabaseWrapper = connection) -> None:
    with conn.cursor() as cursor:
        for statement in _statements(conn, install=False):
            cursor.execute(statement)


def rebuild() -> dict[str, int]:
    """Recount both tallies from the clips and questions (the GROUP BYs the page ran before), remaking the
    triggers; writers wait meanwhile. Rows written per table."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("LOCK TABLE catalog_clip, catalog_question IN SHARE MODE")
        install_triggers()
        ClipTally.objects.all().delete()
        QuestionTally.objects.all().delete()
        ClipTally.objects.bulk_create(
            ClipTally(dataset_id=ds, status=status, n=n, size_bytes=b or 0)
            for ds, status, n, b in Clip.objects.order_by().values_list("dataset_id", "status")
            .annotate(n=Count("pk"), b=Sum("size_bytes")))
        QuestionTally.objects.bulk_create(
            QuestionTally(dataset_id=ds, n=n)
            for ds, n in Question.objects.order_by().values_list("dataset_id").annotate(n=Count("pk")))
        return {"ClipTally": ClipTally.objects.count(), "QuestionTally": QuestionTally.objects.count()}
