"""What a worker accepts from Redis: a JSON payload naming one of the app's own jobs, called with ids.

Whoever can write to Redis decides what the workers run. RQ's default payloads are pickles, which run code as
they are read; and even a JSON payload names any importable function (`os.system`) and may carry callbacks and
webhooks. So queues, workers and the dashboard use RQ's JSON serializer, and a job runs only if it names a
`*_job` function defined in a `webapp.….jobs` module, with int arguments (every job takes ids), no callbacks and
no webhooks. Anything else is failed before any of it is imported. Settings wire it in (`RQ_QUEUES`' SERIALIZER,
`RQ`'s JOB_CLASS and WORKER_CLASS), so `manage.py rqworker` needs no flag to be safe.
"""

from __future__ import annotations

import re
from typing import Any

from rq.job import Job
from rq.worker import SimpleWorker, Worker

SERIALIZER = "rq.serializers.JSONSerializer"
_JOB_NAME = re.compile(r"(webapp(?:\.[a-z_]+)+\.jobs)\.([a-z][a-z0-9_]*_job)")


class RefusedJob(Exception):
    """A payload in Redis that is not one of the app's jobs called with ids."""


def refusal(func_name: str | None, args: Any, kwargs: Any) -> str | None:
    """Why a job must not run, or None; checked before the named module is imported."""
    if not isinstance(func_name, str) or not _JOB_NAME.fullmatch(func_name):
        return f"{func_name!r} is not one of the app's jobs"
    if not isinstance(args, list | tuple) or not isinstance(kwargs, dict) or \
            any(type(value) is not int for value in [*args, *kwargs.values()]):
        return "a job takes ids (ints) only"
    return None


class AppJob(Job):
    """An RQ job that runs only what `refusal` allows; a refused one fails like a job that raised."""

    def restore(self, raw_data: Any) -> Any:
        result = super().restore(raw_data)
        self._hooks_planted = bool(self._success_callback_name or self._failure_callback_name
                                   or self._stopped_callback_name or self.webhooks)
        # The app sets none; never let a planted one run, or be called when the refused job fails.
        self._success_callback_name = self._failure_callback_name = self._stopped_callback_name = None
        self.webhooks = []
        return result

    @property
    def func(self) -> Any:
        reason = refusal(self.func_name, self.args, self.kwargs)  # decoding the payload is JSON only
        if reason is None and (self.instance is not None or getattr(self, "_hooks_planted", False)):
            reason = "the app's jobs carry no instance, callbacks or webhooks"
        if reason:
            raise RefusedJob(f"job {self.id} refused: {reason}")
        func = super().func
        if func.__module__ != _JOB_NAME.fullmatch(self.func_name).group(1):  # type: ignore[union-attr]
            raise RefusedJob(f"job {self.id} refused: {self.func_name!r} is not defined in its jobs module")
        return func


class _JSONOnly:
    """Whatever `--serializer` or job class a command line passes, this worker reads JSON into AppJobs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.update(serializer=SERIALIZER, job_class=AppJob)
        super().__init__(*args, **kwargs)


class JSONWorker(_JSONOnly, Worker):
    """`manage.py rqworker`'s worker (settings: RQ WORKER_CLASS): forks a work-horse per job."""


class JSONSimpleWorker(_JSONOnly, SimpleWorker):
    """The same without forking, for tests that must share the test database's connection."""
