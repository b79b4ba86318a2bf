"""Work left behind by a dead worker or a restarted Redis is found and put right."""

from __future__ import annotations

import io
import json
from pathlib import Path

import django_rq
import pytest
from django.core.management import call_command

from webapp.catalog.ingest import clip_job_id
from webapp.catalog.models import Clip, Dataset, ImportRun

pytestmark = pytest.mark.django_db(transaction=True)


def _import_one(tmp_path: Path, videos: Path) -> Clip:
    name = sorted(videos.glob("*.mp4"))[0].stem
    rows = [{"id": 1, "video_name": name, "video_id": 1, "question_text": "What is heard?",
             "multi_choice": ["a", "b", "c", "d"], "answer": 0, "question_relation": "Both", "question_type": "Which"}]
    (tmp_path / "one.json").write_text(json.dumps(rows))
    call_command("import_avqa", str(tmp_path / "one.json"), videos=str(videos), dataset="r", stdout=io.StringIO())
    return Clip.objects.get()


def test_it_requeues_clips_whose_jobs_vanished_with_redis(tmp_path: Path, real_videos: Path, run_worker) -> None:
    clip = _import_one(tmp_path, real_videos)
    django_rq.get_queue("default").connection.delete(f"rq:job:{clip_job_id(clip.pk, clip.attempt)}")
    django_rq.get_queue("default").empty()  # Redis restarted without persistence
    Clip.objects.filter(pk=clip.pk).update(status="processing")  # the worker died mid-clip
    out = io.StringIO()
    call_command("recover_jobs", stdout=out)
    assert "1 clips requeued" in out.getvalue()
    run_worker("default")
    clip.refresh_from_db()
    assert clip.status == "ready"


def test_it_leaves_live_jobs_alone(tmp_path: Path, real_videos: Path) -> None:
    _import_one(tmp_path, real_videos)
    out = io.StringIO()
    call_command("recover_jobs", stdout=out)
    assert "0 clips requeued" in out.getvalue()
    assert django_rq.get_queue("default").count == 1


def test_it_marks_an_import_failed_when_its_job_is_gone() -> None:
    dataset = Dataset.objects.create(name="d", slug="d", source_format="avqa")
    run = ImportRun.objects.create(dataset=dataset, source_format="avqa", source_name="f.json", split="train",
                                   rq_job_id="import-gone")
    run.mark_running("import-gone")
    call_command("recover_jobs", stdout=io.StringIO())
    run.refresh_from_db()
    assert run.status == "failed" and "worker" in run.error
