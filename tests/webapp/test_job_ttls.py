"""Finished and failed jobs leave Redis: a full-size ingest queues ~57k clip jobs, and RQ's default kept each failed
one for a year (webapp/core/queueing.py job_ttls, settings JOB_RESULT_TTL / JOB_FAILURE_TTL)."""

from __future__ import annotations

import django_rq
import pytest
from rq.job import Job

from tests.webapp.review_factories import make_dataset
from webapp.catalog.ingest import clip_job_id, enqueue_clip_processing
from webapp.catalog.models import Clip
from webapp.curation.models import GenerationRun

pytestmark = pytest.mark.django_db


def test_clip_jobs_carry_bounded_ttls_and_a_failed_one_expires_within_the_setting(
        settings, run_worker, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    settings.JOB_FAILURE_TTL = 3600
    ds = make_dataset()
    clips = [Clip.objects.create(dataset=ds, name=f"c{n}", kind="video", media_path=f"media/none-{n}.mp4",
                                 status="pending") for n in range(3)]
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_clip_processing([c.pk for c in clips])
    queue = django_rq.get_queue("default")
    assert queue.count == 3
    job = Job.fetch(clip_job_id(clips[0].pk, 1), connection=queue.connection, serializer=queue.serializer)
    assert (job.result_ttl, job.failure_ttl, job.timeout) == (600, 3600, 1800)
    run_worker()  # the media does not exist: each job ends with the clip flagged, or as a failed job
    ttl = queue.connection.ttl(job.key)
    assert 0 < ttl <= 3600, ttl  # before: a failed job stayed a year, a finished one 500 s


def test_a_run_job_carries_the_same_ttls(settings, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    run = GenerationRun.objects.create(dataset=make_dataset())
    with django_capture_on_commit_callbacks(execute=True):
        run.enqueue()
    queue = django_rq.get_queue(run.job_queue())
    job = Job.fetch(run.rq_job_id, connection=queue.connection, serializer=queue.serializer)
    assert (job.result_ttl, job.failure_ttl) == (settings.JOB_RESULT_TTL, settings.JOB_FAILURE_TTL)
