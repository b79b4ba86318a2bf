"""Web requests' SQL is bounded in time: on PostgreSQL each web process's connections run with
`statement_timeout = WEB_STATEMENT_TIMEOUT_S`, and a page whose query passes it gets a 503 saying so
(core/middleware.py). Without it a query outlives the request that wanted it: a gunicorn worker killed at its own
timeout, or a client that left, leaves its query running on the server (measured on the 500k-question rehearsal
database: one such query held a core for 45 minutes). Workers set none: their jobs run long by design, and
`wsgi.py` is the one place that installs it. SQLite has no statement timeout."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.backends.signals import connection_created

_UID = "sightsound-web-statement-timeout"
QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement stopped by statement_timeout (or a cancel)


def install() -> None:
    """Every database connection this process opens from now on gets the web statement timeout."""
    connection_created.connect(_bound, dispatch_uid=_UID)


def uninstall() -> None:
    connection_created.disconnect(dispatch_uid=_UID)


def _bound(sender: Any, connection: Any, **_: Any) -> None:
    seconds = settings.WEB_STATEMENT_TIMEOUT_S
    if connection.vendor == "postgresql" and seconds:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, false)", [f"{seconds * 1000}ms"])


def timed_out(exc: BaseException) -> bool:
    """Whether a database error is a statement stopped by the timeout."""
    return getattr(exc.__cause__, "sqlstate", None) == QUERY_CANCELED
