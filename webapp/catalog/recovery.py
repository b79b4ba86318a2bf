"""Find work that a dead worker or a restarted Redis left behind, and put it right.

The embedded Redis keeps nothing on disk, and a worker killed with SIGKILL leaves its job "started"
until the heartbeat expires. The database is the source of truth: a clip still pending or processing
whose job is gone (or failed) is queued again; an import run whose job died is marked failed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import django_rq
from django.db import transaction
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from webapp.catalog.jobs import clip_job_id, enqueue_clip_processing
from webapp.catalog.models import Clip, ImportRun
from webapp.core.models import ACTIVE_STATUSES

logger = logging.getLogger(__name__)

_DEAD = {JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}


@dataclass
class RecoveryReport:
    clips_requeued: int = 0
    imports_failed: int = 0


def _job_is_alive(job_id: str) -> bool:
    connection = django_rq.get_connection("default")
    try:
        status = Job.fetch(job_id, connection=connection).get_status()
    except NoSuchJobError:
        return False
    return status not in _DEAD


def recover() -> RecoveryReport:
    report = RecoveryReport()
    for name in ("default", "gpu"):
        StartedJobRegistry(queue=django_rq.get_queue(name)).cleanup()  # expired heartbeats → failed registry
    stuck = [
        pk for pk in Clip.objects.filter(status__in=[Clip.Status.PENDING, Clip.Status.PROCESSING])
        .values_list("pk", flat=True) if not _job_is_alive(clip_job_id(pk))
    ]
    if stuck:
        with transaction.atomic():
            Clip.objects.filter(pk__in=stuck).update(status=Clip.Status.PENDING, error="")
            enqueue_clip_processing(stuck)
        report.clips_requeued = len(stuck)
    for run in ImportRun.objects.filter(status__in=ACTIVE_STATUSES).exclude(rq_job_id=""):
        if not _job_is_alive(run.rq_job_id) and run.mark_failed(
            "the worker running this import stopped (killed or Redis restarted); import the file again — "
            "rows already imported are kept and reported unchanged"
        ):
            report.imports_failed += 1
    logger.info("recovery: %s clips requeued, %s imports marked failed", report.clips_requeued,
                report.imports_failed)
    return report
