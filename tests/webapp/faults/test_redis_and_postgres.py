"""The queue and the database themselves fail: the embedded Redis is killed and restarted mid-run, and PostgreSQL
terminates the connections of a worker and of the web app. Nothing may be lost, doubled or half-written."""

from __future__ import annotations

import io
import os
import signal
import threading
import time
from pathlib import Path

import django_rq
import psutil
import pytest
import requests
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import Client
from rq.job import Job

from tests.webapp.conftest import ANNOTATIONS
from tests.webapp.faults.harness import OUTCOMES, Outcome, assert_identical, compare, recover
from tests.webapp.faults.test_killed_jobs import _chains, _teacher
from tests.webapp.review_factories import make_dataset, make_question
from tests.webapp.test_queue_unreachable import _point_queues_at
from tests.webapp.test_teacher_runs import avqa, tiny_models  # noqa: F401
from tests.webapp.workers import start_worker, wait_for
from webapp.catalog.models import Clip, Dataset
from webapp.core import embedded_redis
from webapp.core.failpoints import ENV, FILE_ENV
from webapp.curation.models import Chain, Review

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def test_a_redis_restart_mid_run_keeps_pages_answering_and_recovery_loses_and_doubles_nothing(
    settings, admin_client: Client, avqa: Dataset, tiny_models: dict[str, Path], tmp_path: Path,  # noqa: F811
    real_videos: Path, run_worker
) -> None:
    model = tiny_models["tiny-qwen2_5-vl"]
    reference = _teacher(admin_client, avqa, model)
    run_worker("gpu")

    port, password_file = embedded_redis.free_port(), tmp_path / "redis_password"
    url, redis = embedded_redis.start(port, tmp_path / "redis", password_file=password_file)
    _point_queues_at(settings, url)
    faulted = _teacher(admin_client, avqa, model)
    call_command("import_avqa", str(ANNOTATIONS / "avqa_real.json"), videos=str(real_videos), dataset="clips",
                 stdout=io.StringIO(), stderr=io.StringIO())  # ten clip jobs wait in the queue
    latch = tmp_path / "latch"
    worker = start_worker("gpu", **{ENV: "teacher.batch:3", FILE_ENV: str(latch)})
    try:
        wait_for(lambda: latch.exists() and len(latch.read_text().split()) == 2, worker, "reached its third batch")
        redis.kill()  # the embedded Redis dies (no persistence: every queued job is gone)
        redis.wait()
        page = admin_client.get(f"/runs/{faulted.pk}/")
        assert page.status_code == 200 and "queue unreachable" in page.content.decode()
        assert admin_client.get("/").status_code == 200
        for proc in psutil.Process(worker.pid).children(recursive=True) + [psutil.Process(worker.pid)]:
            os.kill(proc.pid, signal.SIGKILL)  # the worker goes down with its queue
        worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    url_again, redis = embedded_redis.start(port, tmp_path / "redis", password_file=password_file)
    assert url_again == url
    report = recover()
    assert "10 clips requeued, 1 runs marked failed" in report, report
    assert admin_client.post(f"/runs/{faulted.pk}/resume/").status_code == 302
    run_worker("gpu", "default")
    faulted.refresh_from_db()
    outcome = compare("Redis killed and restarted (teacher + 10 clip jobs)", "redis SIGKILL + restart",
                      _chains(reference), _chains(faulted), faulted.status == "succeeded"
                      and not Clip.objects.filter(dataset__name="clips").exclude(status="ready").exists())
    assert_identical(outcome)
    redis.terminate()


def _terminate_backends(application_name: str = "") -> int:
    """pg_terminate_backend on every other connection to this test database (or those of one application)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()" + (" AND application_name = %s" if application_name else ""),
            [application_name] if application_name else [])
        return int(cursor.fetchone()[0])


def test_a_worker_whose_database_connection_is_terminated_fails_its_run_cleanly_and_resumes(
    admin_client: Client, avqa: Dataset, tiny_models: dict[str, Path], tmp_path: Path, run_worker  # noqa: F811
) -> None:
    model = tiny_models["tiny-qwen2_5-vl"]
    reference = _teacher(admin_client, avqa, model)
    run_worker("gpu")
    faulted = _teacher(admin_client, avqa, model)
    queue = django_rq.get_queue("gpu")
    latch = tmp_path / "latch"
    worker = start_worker("gpu", **{ENV: "teacher.batch:2", FILE_ENV: str(latch)})
    try:
        wait_for(lambda: latch.exists() and len(latch.read_text().split()) == 2, worker, "reached its second batch")
        stored = Chain.objects.filter(run=faulted).count()
        assert _terminate_backends() >= 1  # the worker's (and its horse's) connections: PostgreSQL drops them
        latch.unlink()  # release the horse: its next query meets the dead connection
        worker.wait(timeout=120)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert Chain.objects.filter(run=faulted).count() == stored  # whole batches only
    failed = Job.fetch(faulted.rq_job_id, connection=queue.connection, serializer=queue.serializer)
    assert failed.get_status() == "failed" and "terminating connection" in (failed.latest_result().exc_string or "")
    recover()
    faulted.refresh_from_db()
    assert faulted.status == "failed" and "resume it" in faulted.error
    assert admin_client.post(f"/runs/{faulted.pk}/resume/").status_code == 302
    run_worker("gpu")
    faulted.refresh_from_db()
    assert_identical(compare("pg_terminate_backend (worker)", "connections terminated mid-run",
                             _chains(reference), _chains(faulted), faulted.status == "succeeded"))


def _browser(client: Client, live_server) -> requests.Session:  # type: ignore[no-untyped-def]
    """A real HTTP session on the live server, logged in as the test client's user."""
    session = requests.Session()
    session.cookies.set(settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value)
    session.headers["Referer"] = live_server.url
    return session


def test_web_requests_survive_terminated_database_connections_without_a_partial_write(
    admin_client: Client, live_server, tmp_path: Path, monkeypatch  # type: ignore[no-untyped-def]
) -> None:
    question = make_question(make_dataset(), 1, chains=1)
    chain = question.chains.get()
    browser = _browser(admin_client, live_server)
    item = f"{live_server.url}/review/q/{question.pk}/"
    assert browser.get(item).status_code == 200  # takes the lease; the server keeps its connection (CONN_MAX_AGE)

    assert _terminate_backends() >= 1  # e.g. a PostgreSQL restart or failover between two requests
    assert browser.get(item).status_code == 200, "a dead persistent connection was reused"

    latch = tmp_path / "latch"
    monkeypatch.setenv(ENV, "review.decide:1")
    monkeypatch.setenv(FILE_ENV, str(latch))
    decide = f"{live_server.url}/review/chains/{chain.pk}/decide/"
    form = {"action": "accept", "version": 0}
    csrf = browser.cookies["csrftoken"]
    browser.cookies.set("csrftoken", csrf)  # the server marks it Secure; this live server speaks plain HTTP
    token = {"X-CSRFToken": csrf}
    answer: list[requests.Response] = []
    request = threading.Thread(target=lambda: answer.append(browser.post(decide, data=form, headers=token)))
    request.start()
    deadline = time.monotonic() + 60
    while not (latch.exists() and latch.read_text()):
        assert time.monotonic() < deadline and request.is_alive(), (
            f"the decision never reached its commit: {answer[0].status_code} {answer[0].text[:800]}" if answer else
            "the decision never reached its commit")
        time.sleep(0.05)
    assert _terminate_backends() >= 1  # mid-request: the decision's rows are written, the commit is not
    latch.unlink()
    request.join(timeout=60)
    response = answer[0]
    assert response.status_code == 503, response.text[:500]
    assert "database connection was lost" in response.text and "nothing" in response.text
    chain.refresh_from_db()
    assert (chain.decision, chain.version, Review.objects.count()) == ("pending", 0, 0)  # no partial write

    monkeypatch.delenv(ENV)
    assert browser.post(decide, data=form, headers=token).status_code in (200, 302)  # the retry goes through
    chain.refresh_from_db()
    OUTCOMES.append(Outcome("web request (a decision)", "pg_terminate_backend between and mid-request", injected=2,
                            recovered=2 * int(chain.decision == "accepted"), lost=int(chain.decision != "accepted"),
                            duplicated=max(0, Review.objects.count() - 1)))
    assert (chain.decision, chain.version, Review.objects.count()) == ("accepted", 1, 1)
