"""Real `rqworker` processes for tests that kill, cancel or race them (a forking worker: its work-horse is a child)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def worker_env(**extra: str) -> dict[str, str]:
    """The environment of a worker process that shares this test's database, Redis and storage root."""
    db = connection.settings_dict
    url = f"sqlite:///{db['NAME']}" if db["ENGINE"].endswith("sqlite3") else \
        f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings", "DATABASE_URL": url,
            "REDIS_URL": settings.RQ_QUEUES["gpu"]["URL"], "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "SECRET_KEY": "test", "DEBUG": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **extra}


def start_worker(*queues: str, capture: bool = False, **env: str) -> subprocess.Popen:
    """A burst worker on `queues` (default: gpu); `capture` keeps its output for a failure message."""
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "manage.py", "rqworker", *(queues or ("gpu",)), "--burst"], cwd=ROOT,
                            env=worker_env(**env), stdout=out, stderr=subprocess.STDOUT)


def wait_for(condition: Callable[[], bool], worker: subprocess.Popen, what: str, timeout: float = 180) -> None:
    """Poll until `condition()`; fail if the worker exits first or nothing happens within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline and worker.poll() is None, f"worker never {what}"
        time.sleep(0.05)
