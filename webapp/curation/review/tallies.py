"""Counters behind the review dashboards, kept by database triggers in the transaction of each write.

At 4M chains the dashboard's GROUP BYs over chains and reviews took 7-9 s a page. The figures are now read from
small tallies (models.ChainTally, VerdictTally, ReviewTally) and the set of chains two curators reviewed
(models.SharedChain), which triggers on `curation_chain` and `curation_review` keep:

- kept chains per (run, decision); kept chains with a verdict of record per (validator, version, label, decision);
- reviews per (curator, day, action, dataset), the day in settings.TIME_ZONE as the triggers were made (`rebuild`
  remakes them after a change of zone);
- a chain enters SharedChain when a curator's review (rulings aside) finds another curator's already there. Writes
  on one chain lock its row first (decisions.py, adjudication.py, bulk.py), so the second review sees the first;
- on shared chains, each curator's label in force and the agreement tables counted from them (agreement_tallies.py).

Triggers rather than calls in the app's write paths: decisions, undo, bulk, adjudication, a validation run becoming
the record, chain import, teacher runs, run deletion and `.update()`s yet to be written all reach the tables, and
nothing can forget to count. On PostgreSQL inserts and deletes are counted per statement from transition tables
(one GROUP BY for a COPY or a run's deletion), updates per row, and only when the decision, `kept`, the verdict of
record or the run changes. Tally rows are upserted in key order, so concurrent decisions cannot deadlock on them.
Verdict rows are written once (never updated), so their own table needs no trigger. A load that bypasses triggers
(bench/rehearsal_db.py's COPY in replica mode) calls `rebuild`, as does `manage.py rebuild_review_tallies`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Count, F
from django.db.models.functions import TruncDate

from webapp.curation.models import (
    Chain,
    ChainTally,
    CuratorLabel,
    LabelPatternTally,
    PairTally,
    Review,
    ReviewTally,
    SharedChain,
    UndoneReview,
    VerdictTally,
)
from webapp.curation.review import agreement_tallies as agreement
from webapp.curation.review.history import replay

ADJUDICATE = Review.Action.ADJUDICATE.value
TRIGGERS = ["chain_insert", "chain_update", "chain_delete", "review_insert", "review_delete", "review_undo"]
COUNTED = (ChainTally, VerdictTally, ReviewTally, SharedChain, UndoneReview, CuratorLabel, PairTally,
           LabelPatternTally)


def _zone() -> str:
    zone = settings.TIME_ZONE
    if not zone.replace("/", "").replace("_", "").replace("-", "").replace("+", "").isalnum():
        raise ValueError(f"unexpected TIME_ZONE {zone!r}")
    return zone


# --- PostgreSQL --------------------------------------------------------------------------------------------------

_PG_CHAIN = """
INSERT INTO curation_chaintally AS t (run_id, decision, n)
SELECT run_id, decision, SUM(d) FROM ({src}) c WHERE kept GROUP BY 1, 2 HAVING SUM(d) <> 0 ORDER BY 1, 2
ON CONFLICT (run_id, decision) DO UPDATE SET n = t.n + EXCLUDED.n;
INSERT INTO curation_verdicttally AS t (validator, validator_version, label, decision, n)
SELECT v.validator, v.validator_version, v.label, c.decision, SUM(c.d)
FROM ({src}) c JOIN curation_verdict v ON v.id = c.verdict_id WHERE c.kept
GROUP BY 1, 2, 3, 4 HAVING SUM(c.d) <> 0 ORDER BY 1, 2, 3, 4
ON CONFLICT (validator, validator_version, label, decision) DO UPDATE SET n = t.n + EXCLUDED.n;
"""

_PG_REVIEW = """
INSERT INTO curation_reviewtally AS t (curator_id, day, action, dataset_id, n)
SELECT r.curator_id, (r.created_at AT TIME ZONE '{zone}')::date, r.action, q.dataset_id, SUM(r.d) FROM ({src}) r
JOIN curation_chain c ON c.id = r.chain_id JOIN catalog_question q ON q.id = c.question_id
GROUP BY 1, 2, 3, 4 HAVING SUM(r.d) <> 0 ORDER BY 1, 2, 3, 4
ON CONFLICT (curator_id, day, action, dataset_id) DO UPDATE SET n = t.n + EXCLUDED.n;
"""

_PG_SHARED = f"""
INSERT INTO curation_sharedchain (chain_id)
SELECT DISTINCT n.chain_id FROM new_rows n WHERE n.action <> '{ADJUDICATE}' AND EXISTS (
    SELECT 1 FROM curation_review r
    WHERE r.chain_id = n.chain_id AND r.curator_id <> n.curator_id AND r.action <> '{ADJUDICATE}')
ORDER BY 1 ON CONFLICT (chain_id) DO NOTHING;
"""

_CHAIN_COLUMNS = "run_id, decision, kept, verdict_id"
_CHAIN_CHANGED = " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in _CHAIN_COLUMNS.split(", "))


def _pg_function(name: str, body: str) -> str:
    return (f"CREATE OR REPLACE FUNCTION curation_tally_{name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
            f"BEGIN\n{body}\nRETURN NULL;\nEND $$;")


def _only_if(test: str, body: str) -> str:
    """A PL/pgSQL block run only when `test` holds: a statement is planned when first run in a session (Django opens
    one per request), and planning the agreement statements cost 15-30 ms where a shared chain is not involved."""
    return f"\nIF {test} THEN {body}\nEND IF;"


def _shared(chains: str) -> str:
    return f"EXISTS (SELECT 1 FROM curation_sharedchain WHERE {chains.format(col='chain_id')})"


def _postgresql() -> list[str]:
    zone = _zone()
    row = " UNION ALL ".join(f"SELECT {', '.join(f'{r}.{c}' for c in _CHAIN_COLUMNS.split(', '))}, {d} AS d"
                             for r, d in (("OLD", -1), ("NEW", 1)))
    deleted = "{col} IN (SELECT chain_id FROM old_rows)"
    reviewed = f"{{col}} IN (SELECT chain_id FROM new_rows WHERE action <> '{ADJUDICATE}')"
    labelled = "EXISTS (SELECT 1 FROM curation_curatorlabel WHERE {col})"
    return [
        _pg_function("chain_insert", _PG_CHAIN.format(src=f"SELECT {_CHAIN_COLUMNS}, 1 AS d FROM new_rows")),
        _pg_function("chain_delete", _PG_CHAIN.format(src=f"SELECT {_CHAIN_COLUMNS}, -1 AS d FROM old_rows")
                     + _only_if(labelled.format(col="chain_id IN (SELECT id FROM old_rows)"),
                                agreement.forget_chains("{col} IN (SELECT id FROM old_rows)", rows="old_rows"))),
        _pg_function("chain_update", _PG_CHAIN.format(src=row)
                     + _only_if("OLD.kept IS DISTINCT FROM NEW.kept AND " + labelled.format(col="chain_id = NEW.id"),
                                agreement.kept_changed("NEW", "true"))),
        _pg_function("review_insert", _PG_REVIEW.format(
            zone=zone, src="SELECT curator_id, created_at, action, chain_id, 1 AS d FROM new_rows")
            + _PG_SHARED + _only_if(_shared(reviewed), agreement.refresh(reviewed))),
        _pg_function("review_delete", _PG_REVIEW.format(
            zone=zone, src="SELECT curator_id, created_at, action, chain_id, -1 AS d FROM old_rows")
            + "\nDELETE FROM curation_undonereview WHERE review_id IN (SELECT id FROM old_rows);"
            + _only_if(f"{_shared(deleted)} OR {labelled.format(col=deleted.format(col='chain_id'))}",
                       agreement.refresh(deleted))),
        # Row by row, before the statement's refresh: each undo takes back what the ones before it left standing.
        _pg_function("review_undo", agreement.undo_marker("NEW")),
        "CREATE TRIGGER curation_tally_chain_insert AFTER INSERT ON curation_chain REFERENCING NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION curation_tally_chain_insert()",
        "CREATE TRIGGER curation_tally_chain_delete AFTER DELETE ON curation_chain REFERENCING OLD TABLE AS old_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION curation_tally_chain_delete()",
        f"CREATE TRIGGER curation_tally_chain_update AFTER UPDATE OF {_CHAIN_COLUMNS} ON curation_chain "
        f"FOR EACH ROW WHEN ({_CHAIN_CHANGED}) EXECUTE FUNCTION curation_tally_chain_update()",
        "CREATE TRIGGER curation_tally_review_insert AFTER INSERT ON curation_review REFERENCING NEW TABLE AS "
        "new_rows FOR EACH STATEMENT EXECUTE FUNCTION curation_tally_review_insert()",
        "CREATE TRIGGER curation_tally_review_delete AFTER DELETE ON curation_review REFERENCING OLD TABLE AS "
        "old_rows FOR EACH STATEMENT EXECUTE FUNCTION curation_tally_review_delete()",
        "CREATE TRIGGER curation_tally_review_undo AFTER INSERT ON curation_review FOR EACH ROW "
        "WHEN (NEW.action = 'undo') EXECUTE FUNCTION curation_tally_review_undo()",
    ]


def _postgresql_drop() -> list[str]:
    return [f"DROP TRIGGER IF EXISTS curation_tally_{t} ON curation_{t.split('_')[0]}" for t in TRIGGERS] + [
        f"DROP FUNCTION IF EXISTS curation_tally_{t}()" for t in TRIGGERS]


# --- SQLite (row triggers only) ------------------------------------------------------------------------------------


def _sqlite_chain(row: str, d: int) -> str:
    return f"""
INSERT INTO curation_chaintally (run_id, decision, n) SELECT {row}.run_id, {row}.decision, {d} WHERE {row}.kept
ON CONFLICT (run_id, decision) DO UPDATE SET n = n + excluded.n;
INSERT INTO curation_verdicttally (validator, validator_version, label, decision, n)
SELECT validator, validator_version, label, {row}.decision, {d} FROM curation_verdict
WHERE id = {row}.verdict_id AND {row}.kept
ON CONFLICT (validator, validator_version, label, decision) DO UPDATE SET n = n + excluded.n;"""


def _sqlite_review(row: str, d: int, zone: str) -> str:
    day = (f"date({row}.created_at)" if zone == "UTC"  # Django's function needs a Django connection: only if used
           else f"django_datetime_cast_date({row}.created_at, '{zone}', NULL)")
    return f"""
INSERT INTO curation_reviewtally (curator_id, day, action, dataset_id, n)
SELECT {row}.curator_id, {day}, {row}.action, q.dataset_id, {d} FROM curation_chain c
JOIN catalog_question q ON q.id = c.question_id WHERE c.id = {row}.chain_id
ON CONFLICT (curator_id, day, action, dataset_id) DO UPDATE SET n = n + excluded.n;"""


def _sqlite() -> list[str]:
    zone = _zone()
    shared = f"""
INSERT INTO curation_sharedchain (chain_id) SELECT NEW.chain_id WHERE NEW.action <> '{ADJUDICATE}' AND EXISTS (
    SELECT 1 FROM curation_review r
    WHERE r.chain_id = NEW.chain_id AND r.curator_id <> NEW.curator_id AND r.action <> '{ADJUDICATE}')
ON CONFLICT (chain_id) DO NOTHING;"""
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _CHAIN_COLUMNS.split(", "))
    old_chain = "(SELECT OLD.id AS id, OLD.question_id AS question_id, OLD.kept AS kept)"
    return [
        f"CREATE TRIGGER curation_tally_chain_insert AFTER INSERT ON curation_chain BEGIN {_sqlite_chain('NEW', 1)} "
        "END",
        f"CREATE TRIGGER curation_tally_chain_delete AFTER DELETE ON curation_chain BEGIN {_sqlite_chain('OLD', -1)} "
        f"{agreement.forget_chains('{col} = OLD.id', rows=old_chain)} END",
        f"CREATE TRIGGER curation_tally_chain_update AFTER UPDATE OF {_CHAIN_COLUMNS} ON curation_chain "
        f"WHEN {changed} BEGIN {_sqlite_chain('OLD', -1)} {_sqlite_chain('NEW', 1)} "
        f"{agreement.kept_changed('NEW', 'OLD.kept IS NOT NEW.kept')} END",
        f"CREATE TRIGGER curation_tally_review_insert AFTER INSERT ON curation_review BEGIN "
        f"{_sqlite_review('NEW', 1, zone)} {shared} {agreement.undo_marker('NEW')} "
        f"{agreement.refresh(f'{{col}} = NEW.chain_id AND NEW.action <> {chr(39)}{ADJUDICATE}{chr(39)}')} END",
        f"CREATE TRIGGER curation_tally_review_delete AFTER DELETE ON curation_review BEGIN "
        f"{_sqlite_review('OLD', -1, zone)} DELETE FROM curation_undonereview WHERE review_id = OLD.id; "
        f"{agreement.refresh('{col} = OLD.chain_id')} END",
    ]


def _sqlite_drop() -> list[str]:
    return [f"DROP TRIGGER IF EXISTS curation_tally_{t}" for t in TRIGGERS]  # review_undo: PostgreSQL only


# --- installing, rebuilding ----------------------------------------------------------------------------------------


def _statements(conn: BaseDatabaseWrapper, install: bool) -> list[str]:
    if conn.vendor == "postgresql":
        return _postgresql_drop() + (_postgresql() if install else [])
    if conn.vendor == "sqlite":
        return _sqlite_drop() + (_sqlite() if install else [])
    raise NotImplementedError(f"review tallies: no triggers for {conn.vendor}")


def install_triggers(conn: BaseDatabaseWrapper = connection) -> None:
    """(Re)create the triggers, with the current settings.TIME_ZONE."""
    with conn.cursor() as cursor:
        for statement in _statements(conn, install=True):
            cursor.execute(statement)


def drop_triggers(conn: BaseDatabaseWrapper = connection) -> None:
    with conn.cursor() as cursor:
        for statement in _statements(conn, install=False):
            cursor.execute(statement)


def rebuild() -> dict[str, int]:
    """Recount every tally from the chains and reviews (the GROUP BYs the dashboard ran before), remaking the
    triggers; writers wait meanwhile (PostgreSQL: the two tables locked against writes). Rows written per table."""
    from zoneinfo import ZoneInfo

    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("LOCK TABLE curation_chain, curation_review, curation_verdict IN SHARE MODE")
        install_triggers()
        for model in COUNTED:
            model.objects.all().delete()
        kept = Chain.objects.filter(kept=True).order_by()
        ChainTally.objects.bulk_create(
            ChainTally(**r) for r in kept.values("run_id", "decision").annotate(n=Count("id")))
        VerdictTally.objects.bulk_create(
            VerdictTally(validator=v, validator_version=ver, label=label, decision=d, n=n)
            for v, ver, label, d, n in kept.filter(verdict__isnull=False)
            .values_list("verdict__validator", "verdict__validator_version", "verdict__label", "decision")
            .annotate(n=Count("id")))
        ReviewTally.objects.bulk_create(
            ReviewTally(**r) for r in Review.objects.order_by()
            .values("curator_id", "action", day=TruncDate("created_at", tzinfo=ZoneInfo(_zone())),
                    dataset_id=F("chain__question__dataset_id"))
            .annotate(n=Count("id")))
        shared = (Review.objects.exclude(action=ADJUDICATE).order_by().values("chain_id")
                  .annotate(raters=Count("curator", distinct=True)).filter(raters__gte=2)
                  .values_list("chain_id", flat=True))
        SharedChain.objects.bulk_create((SharedChain(chain_id=pk) for pk in shared.iterator()), batch_size=5000)
        _rebuild_agreement()
        return {m.__name__: m.objects.count() for m in COUNTED}


def _rebuild_agreement() -> None:
    """The undos' marks replayed in Python (history.replay, rulings aside: few chains have an undo), then the
    labels and agreement tables by the triggers' own statements over every chain."""
    undone = Review.objects.filter(action=Review.Action.UNDO).values("chain_id")
    history = (Review.objects.filter(chain_id__in=undone).exclude(action=ADJUDICATE)
               .only("id", "chain_id", "curator_id", "action", "curator_version").order_by("chain_id", "chain_version"))
    marks: list[UndoneReview] = []
    stream: list[Review] = []
    for review in [*history.iterator(), None]:
        if stream and (review is None or review.chain_id != stream[0].chain_id):
            marks.extend(UndoneReview(review_id=r.pk, chain_id=r.chain_id) for r in replay(stream)[1])
            stream = []
        if review is not None:
            stream.append(review)
    UndoneReview.objects.bulk_create(marks, batch_size=5000)
    with connection.cursor() as cursor:
        for statement in (agreement.labels("{col} IS NOT NULL") + agreement.contribution("{col} IS NOT NULL", "1")
                          ).split(";"):
            if statement.strip():
                cursor.execute(statement)

