"""Test settings: the real settings module with test-only defaults filled in.

An embedded Redis is started here (before django_rq reads RQ_QUEUES) unless REDIS_URL names a server,
so `pytest` alone works on a fresh checkout and RQ jobs always run against a real Redis, with its password
as in production: every client (test code, in-process and subprocess workers) reaches it through REDIS_URL.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "tests-only-not-secret")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("SIGHTSOUND_VAR", tempfile.mkdtemp(prefix="sightsound-tests-"))

if not os.environ.get("REDIS_URL"):
    from webapp.core.embedded_redis import free_port, start

    _var = Path(os.environ["SIGHTSOUND_VAR"])
    os.environ["REDIS_URL"], _redis_proc = start(free_port(), _var / "redis", password_file=_var / "redis_password")

from webapp.settings import *  # noqa: E402,F403

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # A file, not memory: tests that start a real `rqworker` process must see the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405 - whitenoise warns when it is absent
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
