"""Redis down, or the database connection lost, is an answer, not a 500: any view that needed the queue (or the
database) and could not reach it gets a 503 page that says what was (not) done and what to do. Views that can do
better (a run's page) catch it themselves."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from webapp.core.queueing import REDIS_DOWN, WHAT_TO_DO, QueueUnreachable
from webapp.core.statement_timeout import timed_out

logger = logging.getLogger(__name__)


class QueueUnreachableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, QueueUnreachable):
            message = str(exception)
        elif isinstance(exception, REDIS_DOWN):  # a page that asks Redis directly (the RQ dashboard)
            message = f"queue unreachable: the job queue (Redis) is not answering; {WHAT_TO_DO}"
        else:
            return None
        logger.warning("%s %s: %s", request.method, request.path, message)
        return render(request, "queue_unreachable.html", {"message": message}, status=503)


DATABASE_LOST = (
    "The database connection was lost while handling this request (the database restarted or dropped it), so "
    "nothing this request asked for was saved: every write is one transaction, and it did not commit. "
    "Try again; if it keeps happening, check that the database is up."
)


def _too_slow() -> str:
    return (f"This page's database query ran longer than {settings.WEB_STATEMENT_TIMEOUT_S} s "
            "(WEB_STATEMENT_TIMEOUT_S) and the database stopped it, so nothing this request asked for was saved. "
            "Try again; if it keeps happening, the page is too slow for this much data: tell an admin which page.")


class DatabaseUnavailableMiddleware:
    """A request whose connection died mid-way gets a 503 saying its writes were rolled back; Django closes the
    broken connection at the end of the request, so the retry gets a fresh one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        if timed_out(exception):
            logger.error("%s %s: stopped by the statement timeout: %s", request.method, request.path, exception)
            return HttpResponse(render_to_string("database_unavailable.html", {"message": _too_slow(),
                                                                             "title": "Page too slow"}), status=503)
        logger.error("%s %s: database unavailable: %s", request.method, request.path, exception)
        return HttpResponse(render_to_string("database_unavailable.html", {"message": DATABASE_LOST}), status=503)
