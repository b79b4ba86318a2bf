"""The job queue may be down: Redis is a process of its own, and the database, not Redis, is the truth.

So asking Redis is allowed to fail: a page says "queue unreachable" and still shows what the database knows, an action
that would queue a job checks Redis inside its transaction (unreachable: the transaction rolls back, nothing is kept
half-made), and a job whose enqueue fails after the commit leaves its run failed and resumable, not "queued" forever.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

import django_rq
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import JobStatus
from rq.registry import StartedJobRegistry

logger = logging.getLogger(__name__)

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
WHAT_TO_DO = ("start Redis (scripts/run.sh starts the embedded one), then run `manage.py recover_jobs`, which "
              "queues again whatever was left waiting")
LOST_AT_COMMIT = ("queue unreachable: Redis stopped answering as this run was queued, so no job is running it; "
                  "resume it once Redis is back")


class _Failable(Protocol):  # a Run, named structurally: core.models imports this module
    def mark_failed(self, exc: BaseException | str) -> bool: ...


class QueueUnreachable(Exception):
    """Redis did not answer. The message says what was (or was not) done; no host or path in it, curators read it."""


def job_ttls() -> dict[str, int]:
    """How long Redis keeps a finished job's result and a failed job (RQ's default keeps failures a year): the
    database holds each run's and clip's outcome, so Redis needs them only long enough to look at (settings)."""
    from django.conf import settings

    return {"result_ttl": settings.JOB_RESULT_TTL, "failure_ttl": settings.JOB_FAILURE_TTL}


_clients: dict[str, Redis] = {}


def shared_connection(queue_name: str = "default") -> Redis:
    """This process's Redis client for a queue's server, made once: django_rq makes a new client, and so a new TCP
    connection and handshake, at every call, a tenth of a review decision's CPU. Keyed by the queue's settings, so
    queues pointed elsewhere (tests, a changed setting) get a client of that server; redis-py reconnects a dropped
    connection and starts a fresh pool in a forked worker."""
    from django.conf import settings

    key = repr(sorted(settings.RQ_QUEUES[queue_name].items()))
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = django_rq.get_connection(queue_name)
    return client


def check_reachable(queue_name: str = "default") -> None:
    """One PING: called inside the transaction that will queue a job, so an unreachable Redis rolls it back."""
    try:
        django_rq.get_connection(queue_name).ping()
    except REDIS_DOWN as exc:
        raise QueueUnreachable("queue unreachable: nothing was queued and nothing was changed; start Redis "
                               "(scripts/run.sh starts the embedded one) and try again") from exc


def enqueue_or_fail(run: _Failable, queue: Queue, func: str, args: Sequence[Any], options: dict[str, Any]) -> None:
    """The after-commit half of `Run.enqueue`: Redis can still vanish between the check and the commit; the run
    then says so and can be resumed, instead of a 500 after a commit that kept it 'queued' with no job."""
    try:
        queue.enqueue(func, *args, **options)
    except REDIS_DOWN:
        logger.warning("queue unreachable when queuing %s; marked failed", run)
        run.mark_failed(LOST_AT_COMMIT)


_DEAD = {JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}


def job_is_alive(job_id: str) -> bool:
    """Whether RQ still holds the job, not dead; raises QueueUnreachable when Redis cannot be asked (a job
    that cannot be seen is not known to be dead)."""
    queue = django_rq.get_queue("default")
    try:  # read with the queues' serializer (JSON): a planted pickle must never be unpickled here either
        status = queue.job_class.fetch(job_id, connection=queue.connection, serializer=queue.serializer).get_status()
    except NoSuchJobError:
        return False
    except REDIS_DOWN as exc:
        raise QueueUnreachable(f"queue unreachable: could not ask Redis about job {job_id}") from exc
    return status not in _DEAD


def live_jobs(queue_name: str, job_ids: list[str]) -> set[str]:
    """Of these jobs, those still at work or waiting: first the queue's started jobs whose worker stopped sending
    heartbeats are failed (as `recover` does), then each job is asked about (`job_is_alive`)."""
    if not job_ids:
        return set()
    try:
        StartedJobRegistry(queue=django_rq.get_queue(queue_name)).cleanup()
    except REDIS_DOWN as exc:
        raise QueueUnreachable(f"queue unreachable: could not ask Redis about queue {queue_name}") from exc
    return {job_id for job_id in job_ids if job_is_alive(job_id)}
