"""WSGI entry point (gunicorn/uwsgi in production; runserver for the embedded demo)."""

from __future__ import annotations

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
application = get_wsgi_application()

from webapp.core import statement_timeout  # noqa: E402 - needs the settings get_wsgi_application loaded

statement_timeout.install()  # web processes only: a worker's jobs may run long

# What is loaded by now lives as long as the process: kept out of the collector's full passes, which otherwise walk
# it every few hundred requests (half the collector's time in a review request, bench/review_cpu.py).
gc.freeze()
