"""The production WSGI app, plus two response headers for the benchmark: queries run and worker CPU time.

Django sends the headers only after the view returned, so both numbers cover the whole request. Gunicorn's sync
workers serve one request at a time, so the process CPU delta belongs to that request alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connection

from webapp.wsgi import application as django_application


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    count = [0]

    def counter(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        count[0] += 1
        return execute(sql, params, many, context)

    cpu0 = time.process_time()

    def bench_start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        headers = [*headers, ("X-Bench-Queries", str(count[0])),
                   ("X-Bench-CPU-ms", f"{(time.process_time() - cpu0) * 1000:.2f}")]
        return start_response(status, headers, exc_info)

    with connection.execute_wrapper(counter):
        return django_application(environ, bench_start_response)
