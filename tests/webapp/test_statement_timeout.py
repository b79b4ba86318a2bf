"""A web request's SQL is bounded in time on PostgreSQL (webapp/core/statement_timeout.py); workers' is not."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection
from django.test import Client

from webapp.core import statement_timeout

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def web_process(settings) -> Iterator[None]:
    """This process's connections from now on are a web process's (what webapp/wsgi.py installs)."""
    assert connection.vendor == "postgresql", "run with DATABASE_URL=postgres://…"
    settings.WEB_STATEMENT_TIMEOUT_S = 1
    statement_timeout.install()
    connection.close()  # the next query opens a connection, as a web process's first request does
    yield
    statement_timeout.uninstall()
    connection.close()


def _timeout() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        return str(cursor.fetchone()[0])


def test_a_worker_process_sets_no_statement_timeout() -> None:
    connection.close()
    assert _timeout() == "0"


def test_a_web_process_bounds_each_statement(web_process) -> None:
    assert _timeout() == "1s"


def test_a_page_stopped_by_the_timeout_gets_a_503_that_says_so_and_its_query_does_not_live_on(
        web_process, admin_client: Client) -> None:
    """A table locked by another session holds the page's query past the timeout, as a slow plan would."""
    params = connection.settings_dict
    other = psycopg.connect(dbname=params["NAME"], user=params["USER"], host=params["HOST"],
                            port=params["PORT"] or 5432, password=params["PASSWORD"] or None)
    try:
        other.execute("LOCK TABLE catalog_dataset IN ACCESS EXCLUSIVE MODE")
        response = admin_client.get("/")
        waiting = other.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                "AND datname = current_database()").fetchone()[0]
    finally:
        other.rollback()
        other.close()
    html = response.content.decode()
    assert response.status_code == 503 and "Page too slow" in html and "WEB_STATEMENT_TIMEOUT_S" in html
    assert waiting == 0  # the stopped query is gone from the server, not left holding a core
