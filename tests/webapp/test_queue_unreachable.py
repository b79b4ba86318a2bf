"""With Redis down, every run page still answers (saying "queue unreachable"), an action that would queue a job says
so instead of a 500 and leaves nothing half-made, and the import commands keep their rows for `recover_jobs`.

Redis is made unreachable for real: the queues point at a port where nothing listens, or at a private Redis that is
killed mid-transaction.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import Client

from tests.webapp.review_factories import make_dataset
from webapp.catalog.models import Clip, Dataset, ImportRun, Question
from webapp.core import embedded_redis
from webapp.core.models import Run
from webapp.curation.models import GenerationRun
from webapp.training.models import DatasetSnapshot, TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)


def _point_queues_at(settings, url: str) -> None:
    settings.RQ_QUEUES = {name: {**config, "URL": url} for name, config in settings.RQ_QUEUES.items()}


@pytest.fixture
def redis_down(settings) -> None:
    """Every queue points at a local port where nothing listens: connections are refused, as with Redis stopped."""
    _point_queues_at(settings, f"redis://127.0.0.1:{embedded_redis.free_port()}/0")


def _generation(dataset: Dataset) -> GenerationRun:
    return GenerationRun.objects.create(dataset=dataset)


def _training(dataset: Dataset) -> TrainingRun:
    return TrainingRun.objects.create(stage="eval", base_model="tiny")


def _snapshot(dataset: Dataset) -> DatasetSnapshot:
    return DatasetSnapshot.objects.create(dataset=dataset, version=1)


def _import(dataset: Dataset) -> ImportRun:
    return ImportRun.objects.create(dataset=dataset, source_format="avqa", source_name="a.json", split="train")


PAGES = {"generation": (_generation, "/runs/{}/"), "training": (_training, "/training/{}/"),
         "snapshot": (_snapshot, "/snapshots/{}/"), "import": (_import, "/imports/{}/")}


@pytest.mark.parametrize("kind", sorted(PAGES))
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "poll"])
def test_a_running_runs_page_answers_and_says_the_queue_is_unreachable(kind: str, htmx: bool, users,
                                                                       curator_client: Client, redis_down) -> None:
    make, url = PAGES[kind]
    run: Run = make(make_dataset())
    run.mark_running(f"{kind}-job-1")
    headers = {"HX-Request": "true"} if htmx else {}
    r = curator_client.get(url.format(run.pk), headers=headers)
    assert r.status_code == 200
    if kind != "import":  # an import's page never asks RQ
        assert "queue unreachable" in r.content.decode()
    run.refresh_from_db()
    assert run.status == "running"  # unknown is not dead: nothing is marked failed while Redis cannot be asked


def test_a_resume_with_redis_down_says_so_and_leaves_the_run_as_it_was(users, admin_client: Client,
                                                                       redis_down) -> None:
    run = _generation(make_dataset())
    run.mark_running("gen-old")
    run.mark_failed("worker died")
    r = admin_client.post(f"/runs/{run.pk}/resume/")
    assert r.status_code == 503
    assert "queue unreachable" in r.content.decode().lower()
    run.refresh_from_db()
    assert (run.status, run.rq_job_id, run.error) == ("failed", "gen-old", "worker died")


def test_a_cancel_with_redis_down_still_cancels(users, admin_client: Client, redis_down) -> None:
    run = _training(make_dataset())
    run.mark_running("train-1")
    assert admin_client.post(f"/training/{run.pk}/cancel/").status_code == 302
    run.refresh_from_db()
    assert run.status == "cancelled"


def test_a_launch_with_redis_down_says_so_and_creates_nothing(users, admin_client: Client, redis_down) -> None:
    dataset = make_dataset()
    r = admin_client.post("/snapshots/new/", {"dataset": dataset.pk})
    assert r.status_code == 503
    assert "queue unreachable" in r.content.decode().lower()
    assert not DatasetSnapshot.objects.exists()


def test_redis_lost_between_launch_and_commit_leaves_a_failed_resumable_run(settings, tmp_path: Path) -> None:
    """The launch checked Redis inside its transaction, then Redis died before the commit queued the job: the run
    must not stay 'queued' with no job behind it, and the commit must not raise."""
    url, proc = embedded_redis.start(embedded_redis.free_port(), tmp_path / "redis",
                                     password_file=tmp_path / "redis_password")
    _point_queues_at(settings, url)
    with transaction.atomic():
        run = _generation(make_dataset())
        run.enqueue()
        proc.terminate()
        proc.wait()
    run.refresh_from_db()
    assert run.status == "failed" and "queue unreachable" in run.error
    assert run.requeue()  # resumable once Redis is back


def _one_row(tmp_path: Path, videos: Path) -> Path:
    name = sorted(videos.glob("*.mp4"))[0].stem
    rows = [{"id": 1, "video_name": name, "video_id": 1, "question_text": "What is heard?",
             "multi_choice": ["a", "b", "c", "d"], "answer": 0, "question_relation": "Both", "question_type": "Which"}]
    path = tmp_path / "one.json"
    path.write_text(json.dumps(rows))
    return path


def test_import_without_redis_keeps_the_rows_and_says_to_run_recover_jobs(settings, tmp_path: Path,
                                                                           real_videos: Path, run_worker) -> None:
    live = settings.RQ_QUEUES
    _point_queues_at(settings, f"redis://127.0.0.1:{embedded_redis.free_port()}/0")
    out = io.StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("import_avqa", str(_one_row(tmp_path, real_videos)), videos=str(real_videos), dataset="d",
                     stdout=out, stderr=io.StringIO())
    message = str(failure.value)
    assert "queue unreachable" in message and "recover_jobs" in message and "1 clip" in message
    assert "1 created" in out.getvalue()
    assert Question.objects.count() == 1 and Clip.objects.get().status == "pending"

    settings.RQ_QUEUES = live  # Redis is back
    report = io.StringIO()
    call_command("recover_jobs", stdout=report)
    assert "1 clips requeued" in report.getvalue()
    run_worker("default")
    assert Clip.objects.get().status == "ready"


def test_recover_jobs_with_redis_down_says_so(redis_down) -> None:
    with pytest.raises(CommandError, match="queue unreachable"):
        call_command("recover_jobs", stdout=io.StringIO())


def test_a_reprocess_with_redis_down_says_so_and_leaves_the_clip_pending_for_recover_jobs(
        users, admin_client: Client, redis_down) -> None:
    dataset = make_dataset()
    clip = Clip.objects.create(dataset=dataset, name="c", kind="video", media_path="m/c.mp4", status="failed")
    r = admin_client.post(f"/clips/{clip.pk}/reprocess/")
    assert r.status_code == 503
    assert "recover_jobs" in r.content.decode()
    clip.refresh_from_db()
    assert clip.status == "pending"


def test_the_rq_dashboard_with_redis_down_says_so(users, redis_down) -> None:
    staff = users["admin"]
    staff.is_staff = True
    staff.save()
    client = Client()
    client.force_login(staff)
    r = client.get("/rq/")
    assert r.status_code == 503
    assert "queue unreachable" in r.content.decode().lower()
