"""Redis down is an answer, not a 500: any view that needed the queue and could not reach it gets a 503 page that
says what was (not) done and what to do. Views that can do better (a run's page) catch it themselves."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from webapp.core.queueing import REDIS_DOWN, WHAT_TO_DO, QueueUnreachable

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
