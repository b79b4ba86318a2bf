"""Find work that a dead worker or a restarted Redis left behind, and put it right.

The embedded Redis keeps nothing on disk, and a work-horse killed with SIGKILL leaves its job failed
in RQ without running any of our code. The database is the source of truth: a clip still pending or
processing whose job is gone (or failed) is queued again; any run (import, generation, training …)
whose job is gone is marked failed, so the UI says so and the run can be resumed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import django_rq
from django.apps import apps
from rq.registry import StartedJobRegistry

from webapp.core import shards
from webapp.core.models import ACTIVE_STATUSES, Run, Tracked
from webapp.core.queueing import REDIS_DOWN, QueueUnreachable, job_is_alive

logger = logging.getLogger(__name__)

DEAD_WORKER_MESSAGE = (
    "the worker running this stopped (killed, or Redis restarted); resume it — work already stored is kept"
)


@dataclass
class RecoveryReport:
    clips_requeued: int = 0
    runs_failed: int = 0


def fail_if_orphaned(run: Tracked) -> bool:
    """Mark an active run failed when its RQ job no longer exists or has died; cheap enough for a page view. A run
    split into shards asks about each active shard's job: a dead one fails its shard, and so the run."""
    if run.status not in ACTIVE_STATUSES:
        return False
    if isinstance(run, Run) and (parts := shards.active(run)):
        return any([fail_if_orphaned(part) for part in parts])  # a list: every dead shard is failed
    if not run.rq_job_id or job_is_alive(run.rq_job_id):
        return False
    return run.mark_failed(DEAD_WORKER_MESSAGE)


def queue_answers_for(run: Run) -> bool:
    """What a run's page calls: fail_if_orphaned, with Redis down an answer rather than a 500. Returns False when
    the queue could not be asked (the page says "queue unreachable"; the run keeps its status, since a job that
    cannot be seen is not known to be dead), True otherwise."""
    try:
        fail_if_orphaned(run)
    except QueueUnreachable:
        logger.warning("queue unreachable while looking at %s", run)
        return False
    return True


def _run_models() -> list[type[Tracked]]:
    """Every kind of run, and of shard: a shard's job is asked about on its own, its run has none."""
    return [m for m in apps.get_models() if issubclass(m, Run | shards.Shard)]


def recover() -> RecoveryReport:
    """Clean RQ's started registries, let each app requeue its stuck work, and fail orphaned runs; raises
    QueueUnreachable when Redis does not answer (recovery is exactly what needs it).

    Apps above core plug in through their AppConfig's `requeue_stuck_work(job_is_alive) -> int` (catalog: clips
    whose processing job is gone), so core never imports them.
    """
    report = RecoveryReport()
    for name in ("default", "gpu"):
        try:
            StartedJobRegistry(queue=django_rq.get_queue(name)).cleanup()  # expired heartbeats → failed registry
        except REDIS_DOWN as exc:
            raise QueueUnreachable("queue unreachable: nothing was recovered; start Redis and run this "
                                   "again") from exc
    for config in apps.get_app_configs():
        if hook := getattr(config, "requeue_stuck_work", None):
            report.clips_requeued += hook(job_is_alive)
    for model in _run_models():
        for run in model.objects.filter(status__in=ACTIVE_STATUSES).exclude(rq_job_id=""):
            report.runs_failed += fail_if_orphaned(run)
    logger.info("recovery: %s clips requeued, %s runs marked failed", report.clips_requeued, report.runs_failed)
    return report
