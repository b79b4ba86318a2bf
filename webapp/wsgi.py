"""WSGI entry point (gunicorn/uwsgi in production; runserver for the embedded demo)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
application = get_wsgi_application()

from webapp.core import statement_timeout  # noqa: E402 - needs the settings get_wsgi_application loaded

statement_timeout.install()  # web processes only: a worker's jobs may run long
