"""Jobs travel as JSON naming one of the app's own jobs with ids: what Redis holds is data, never code.

Whoever can write to Redis can put anything on a queue; these tests plant such payloads the way an intruder
would and run the real worker (`manage.py rqworker`, as the run script and the docs start it, no flags).
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import pickle
import zlib
from pathlib import Path

import django_rq
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from rq.job import Job, JobStatus
from rq.serializers import DefaultSerializer

from tests.webapp.workers import start_worker
from webapp.catalog.ingest import clip_job_id, enqueue_clip_processing
from webapp.catalog.models import Clip, Dataset
from webapp.core import job_policy

ROOT = Path(__file__).resolve().parents[2]


class _MakesADirectoryWhenUnpickled:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return os.mkdir, (str(self.marker),)


def _run_rqworker(*queues: str) -> str:
    worker = start_worker(*queues, capture=True)
    out, _ = worker.communicate(timeout=120)
    return out.decode()


def _queued_clip(django_capture_on_commit_callbacks) -> str:  # type: ignore[no-untyped-def]
    """Queue a clip's processing the way imports do; the id of its job."""
    dataset = Dataset.objects.create(name="d", slug="d", source_format="avqa")
    clip = Clip.objects.create(dataset=dataset, name="c", kind="video", media_path="m/c.mp4")
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_clip_processing([clip.pk])
    clip.refresh_from_db()
    return clip_job_id(clip.pk, clip.attempt)


def test_a_job_the_app_enqueues_is_stored_as_json(db, django_capture_on_commit_callbacks) -> None:
    job_id = _queued_clip(django_capture_on_commit_callbacks)
    raw = django_rq.get_connection("default").hget(f"rq:job:{job_id}", "data")
    func_name, instance, args, kwargs = json.loads(zlib.decompress(raw))
    assert (func_name, instance, kwargs) == ("webapp.catalog.jobs.process_clip_job", None, {})
    assert args and all(type(a) is int for a in args)  # ids: the clip and its attempt


@pytest.mark.django_db(transaction=True)
def test_a_pickled_payload_planted_in_redis_is_failed_not_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    queue = django_rq.get_queue("default")
    job = Job.create("webapp.catalog.jobs.process_clip_job", args=[1], connection=queue.connection,
                     serializer=DefaultSerializer, id="planted-pickle", origin="default")
    job.save()
    payload = pickle.dumps((_MakesADirectoryWhenUnpickled(marker), None, (), {}))
    queue.connection.hset(job.key, "data", zlib.compress(payload))
    queue.push_job_id(job.id)
    _run_rqworker("default")
    assert not marker.exists(), "the worker unpickled a payload from Redis"
    assert job.id in queue.failed_job_registry.get_job_ids()


@pytest.mark.django_db(transaction=True)
def test_a_queued_job_naming_any_other_function_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    queue = django_rq.get_queue("default")  # written exactly as the app's own queue writes jobs
    job = queue.enqueue("os.mkdir", str(marker))
    output = _run_rqworker("default")
    assert not marker.exists(), output
    job = queue.fetch_job(job.id)
    assert job.get_status() == JobStatus.FAILED and "not one of the app's jobs" in job.latest_result().exc_string


def test_an_app_job_with_anything_but_ids_is_refused_by_the_test_worker(run_worker) -> None:
    queue = django_rq.get_queue("default")
    job = queue.enqueue("webapp.catalog.jobs.process_clip_job", "1; anything")
    run_worker("default")
    job = queue.fetch_job(job.id)
    assert job.get_status() == JobStatus.FAILED and "ids" in job.latest_result().exc_string


def _app_jobs() -> list[str]:
    names = []
    for path in (ROOT / "webapp").rglob("jobs.py"):
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        names += [f"{module.__name__}.{name}" for name, fn in inspect.getmembers(module, inspect.isfunction)
                  if fn.__module__ == module.__name__ and name.endswith("_job")]
    return names


def test_every_job_of_the_app_is_allowed_and_nothing_else_named_like_one() -> None:
    jobs = _app_jobs()
    assert "webapp.curation.review.jobs.bulk_job" in jobs and "webapp.training.jobs.training_job" in jobs
    assert all(job_policy.refusal(name, (1, 2), {}) is None for name in jobs)
    assert job_policy.refusal("webapp.curation.review.jobs.execute", (1,), {})  # imported there, not a job
    assert job_policy.refusal("webapp.catalog.jobs.os", (1,), {})
    assert job_policy.refusal("builtins.eval", ("1",), {})


def test_the_rq_dashboard_reads_the_json_jobs(db, client, django_capture_on_commit_callbacks) -> None:
    client.force_login(User.objects.create_superuser("root", password="pw-root-long"))
    job_id = _queued_clip(django_capture_on_commit_callbacks)
    index = list(settings.RQ_QUEUES).index("default")
    page = client.get(f"/rq/queues/{index}/")
    assert page.status_code == 200 and "process_clip_job" in page.content.decode()
    detail = client.get(f"/rq/queues/{index}/{job_id}/")
    assert detail.status_code == 200 and "process_clip_job" in detail.content.decode()
