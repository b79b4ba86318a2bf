"""SIGKILL of the RQ work-horse during each kind of job, then the operator's recovery: the end state equals an
uninterrupted run's (same rows by natural key, metric keys, values within 1e-6), with nothing lost or doubled.

Each kill happens at a named failpoint (webapp/core/failpoints.py) just after a batch committed, three points for
the cheap jobs and one for the training stages. Recovery is `recover_jobs` (a killed run turns failed, stuck
clips are queued again) and then the run's resume; for an import or a bulk action the resume re-runs them,
which both are idempotent by design.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from pipeline import tiny
from tests.webapp.conftest import ANNOTATIONS
from tests.webapp.faults.harness import assert_identical, compare, kill_and_recover
from tests.webapp.review_factories import make_dataset, make_question
from tests.webapp.test_teacher_runs import _launch, avqa, tiny_models  # noqa: F401
from tests.webapp.test_training_runs import _launch as _launch_training
from tests.webapp.test_training_runs import _tone_dataset
from tests.webapp.workers import start_worker
from webapp.catalog.imports import get_or_create_dataset, queue_upload
from webapp.catalog.models import Clip, Dataset, ImportRun, Question
from webapp.core import storage
from webapp.curation.models import BulkAction, Chain, GenerationRun, Verdict
from webapp.curation.review.forms import filter_form_from_query
from webapp.curation.runs import launch_validation
from webapp.training.models import DatasetSnapshot, MetricPoint, SnapshotItem, TrainingRun

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def _resume(client: Client, url: str, run: object) -> None:
    run.refresh_from_db()  # type: ignore[attr-defined]
    assert run.status == "failed", (run.status, run.error)  # type: ignore[attr-defined]
    assert client.post(url).status_code == 302


# --- import ------------------------------------------------------------------------------------------------------
def _annotations(n: int) -> bytes:
    rows = [{"id": i, "video_name": f"v{i % 37:03d}", "video_id": i, "question_text": f"What sounds in clip {i}?",
             "multi_choice": ["a dog", "a car", "rain", "a violin"], "answer": i % 4, "question_relation": "Both",
             "question_type": "Which"} for i in range(1, n + 1)]
    return json.dumps(rows).encode()


def _import(name: str) -> ImportRun:
    dataset = get_or_create_dataset(name, "avqa")
    return queue_upload(dataset, SimpleUploadedFile("avqa.json", _annotations(100)), split="train", media_dir=None,
                        allow_missing_media=True, user=None)


def _questions(dataset: Dataset) -> list[tuple[object, object]]:
    return [((q.external_id,), (q.text, q.answer_index, list(q.choices), q.clip.name, q.split))
            for q in Question.objects.filter(dataset=dataset).select_related("clip")]


@pytest.mark.parametrize("point", ["import.progress:1", "import.progress:2", "import.progress:4"])
def test_an_import_killed_mid_file_finishes_on_resume_with_every_row_once(
    point: str, admin_client: Client, tmp_path: Path, run_worker
) -> None:
    reference = _import("reference")
    run_worker("default")
    killed = _import("faulted")
    kill_and_recover(point, tmp_path, "default")
    killed.refresh_from_db()
    assert killed.status == "failed", killed.status
    again = _import("faulted")  # the resume of an import is the same file imported again
    run_worker("default")
    again.refresh_from_db()
    outcome = compare("import (100 rows)", point, _questions(reference.dataset), _questions(again.dataset),
                      again.status == "succeeded" and again.error_count == 0)
    assert_identical(outcome)


# --- teacher and validation --------------------------------------------------------------------------------------
def _chains(run: GenerationRun) -> list[tuple[object, object]]:
    return [((c.question.external_id, c.sample_index), (c.text, c.kept, c.parsed_answer, c.drop_reason))
            for c in Chain.objects.filter(run=run).select_related("question")]


def _verdicts(run: GenerationRun) -> list[tuple[object, object]]:
    return [((v.chain.question.external_id, v.chain.sample_index, v.validator, v.validator_version),
             (v.label, v.score, v.claims))
            for v in Verdict.objects.filter(run=run).select_related("chain__question")]


def _teacher(client: Client, dataset: Dataset, model: Path) -> GenerationRun:
    return _launch(client, dataset, model, k=2, max_new_tokens=12, limit=6)


@pytest.mark.parametrize("teacher_point,validation_point", [
    ("teacher.batch:1", "validation.item:1"), ("teacher.batch:3", "validation.item:6"),
    ("teacher.batch:5", "validation.item:11"),
])
def test_teacher_and_validation_killed_mid_run_resume_to_the_uninterrupted_result(
    teacher_point: str, validation_point: str, admin_client: Client, avqa: Dataset,  # noqa: F811
    tiny_models: dict[str, Path], tmp_path: Path, run_worker  # noqa: F811
) -> None:
    model = tiny_models["tiny-qwen2_5-vl"]
    reference = _teacher(admin_client, avqa, model)
    run_worker("gpu")
    faulted = _teacher(admin_client, avqa, model)
    kill_and_recover(teacher_point, tmp_path, "gpu")
    _resume(admin_client, f"/runs/{faulted.pk}/resume/", faulted)
    run_worker("gpu")
    faulted.refresh_from_db()
    assert_identical(compare("teacher (6 questions, K=2)", teacher_point, _chains(reference), _chains(faulted),
                             faulted.status == "succeeded"))

    ref_check = launch_validation(reference, "sound-events", "", include_dropped=True, user=None)
    run_worker("default")
    check = launch_validation(faulted, "sound-events", "", include_dropped=True, user=None)
    kill_and_recover(validation_point, tmp_path, "default")
    _resume(admin_client, f"/runs/{check.pk}/resume/", check)
    run_worker("default")
    check.refresh_from_db()
    ref_check.refresh_from_db()
    assert ref_check.status == "succeeded", ref_check.error
    assert_identical(compare("validation (12 chains)", validation_point, _verdicts(ref_check), _verdicts(check),
                             check.status == "succeeded"))


# --- clip processing ---------------------------------------------------------------------------------------------
def _sha(relative: str) -> str:
    return hashlib.sha256(storage.resolve(relative).read_bytes()).hexdigest() if relative else ""


def _clips(dataset: Dataset) -> list[tuple[object, object]]:
    return [((c.name,), (c.status, c.duration, c.fps, c.width, c.height, c.sample_rate, len(c.frame_paths),
                         _sha(c.audio_path)))
            for c in Clip.objects.filter(dataset=dataset)]


def _import_clips(name: str, videos: Path) -> Dataset:
    call_command("import_avqa", str(ANNOTATIONS / "avqa_real.json"), videos=str(videos), dataset=name,
                 stdout=io.StringIO(), stderr=io.StringIO())
    return Dataset.objects.get(name=name)


@pytest.mark.parametrize("point", ["clip.claimed:1", "clip.decoded:1", "clip.stored:1"])
def test_clip_processing_killed_mid_clip_is_queued_again_by_recovery_and_finishes(
    point: str, real_videos: Path, tmp_path: Path, run_worker
) -> None:
    reference = _import_clips("reference", real_videos)
    run_worker("default")
    faulted = _import_clips("faulted", real_videos)
    # a clip killed before its result was stored is "processing" with a dead job: queued again
    report = kill_and_recover(point, tmp_path, "default")
    assert ("1 clips requeued" in report) == (point != "clip.stored:1"), report
    run_worker("default")
    finished = not Clip.objects.filter(dataset=faulted).exclude(status="ready").exists()
    assert_identical(compare("clip processing (10 real clips)", point, _clips(reference), _clips(faulted), finished))


# --- bulk decisions ----------------------------------------------------------------------------------------------
def _bulk(client: Client, slug: str) -> None:
    """Post the bulk accept the way the confirm page does: with the count the filter matches now."""
    user = User.objects.get(pk=client.session["_auth_user_id"])
    filters = filter_form_from_query(f"dataset={slug}", user)
    assert filters.is_valid(), filters.errors
    count = filters.chains().count()
    r = client.post("/review/bulk/", {"action": "accept", "reason": "", "note": "faults", "queue": f"dataset={slug}",
                                      "confirm": count})
    assert r.status_code == 302, r.content.decode()[:500]


def _decisions(dataset: Dataset) -> list[tuple[object, object]]:
    return [((c.question.external_id, c.sample_index), (c.decision, c.version, c.reviews.count()))
            for c in Chain.objects.filter(question__dataset=dataset).select_related("question")]


@pytest.mark.parametrize("point", ["bulk.batch:1", "bulk.batch:2", "bulk.batch:3"])
def test_a_bulk_accept_killed_between_batches_applies_each_chain_once_when_run_again(
    point: str, admin_client: Client, tmp_path: Path, run_worker
) -> None:
    datasets = {slug: make_dataset(slug) for slug in ("reference", "faulted")}
    for dataset in datasets.values():
        for n in range(600):
            make_question(dataset, n, chains=2)
    _bulk(admin_client, "reference")
    run_worker("default")
    _bulk(admin_client, "faulted")
    killed = BulkAction.objects.latest("pk")
    kill_and_recover(point, tmp_path, "default")
    killed.refresh_from_db()
    assert killed.status == "failed", killed.status
    _bulk(admin_client, "faulted")  # the resume of a bulk action is the same action again
    run_worker("default")
    again = BulkAction.objects.latest("pk")
    assert_identical(compare("bulk accept (1,200 chains)", point, _decisions(datasets["reference"]),
                             _decisions(datasets["faulted"]), again.status == "succeeded"))


# --- snapshot, training and evaluation ---------------------------------------------------------------------------
TIMING = ("runtime", "per_second", "per_s", "tokens_s", "seconds", "_time")


def _metrics(run: TrainingRun) -> list[tuple[object, object]]:
    return [((p.name, p.step), p.value) for p in MetricPoint.objects.filter(run=run)
            if not any(t in p.name for t in TIMING)]


def _items(snapshot: DatasetSnapshot) -> list[tuple[object, object]]:
    return [((i.chain.question.external_id, i.chain.sample_index), (i.text, i.chain_version))
            for i in SnapshotItem.objects.filter(snapshot=snapshot).select_related("chain__question")]


def _files(snapshot: DatasetSnapshot) -> list[tuple[object, object]]:
    """The export's files by name with their line counts (their text names the snapshot, so not the bytes)."""
    folder = storage.resolve(snapshot.export_dir)
    return [((f.name,), sum(1 for _ in f.open("rb"))) for f in sorted(folder.iterdir()) if f.is_file()]


def _drain(*queues: str) -> None:
    """Run the queue in a worker process like the faulted runs', so float results are computed alike."""
    worker = start_worker(*queues)
    assert worker.wait(timeout=600) == 0


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny.build_model("tiny-qwen2-audio", tmp_path_factory.mktemp("tiny") / "tiny-qwen2-audio")


def test_snapshot_and_training_stages_killed_mid_run_resume_to_the_uninterrupted_result(
    admin_client: Client, media_root: Path, student: Path, tmp_path: Path
) -> None:
    dataset = _tone_dataset(media_root, 16)

    def snapshot() -> DatasetSnapshot:
        assert admin_client.post("/snapshots/new/", {"dataset": dataset.pk}).status_code == 302
        return DatasetSnapshot.objects.latest("pk")

    reference = snapshot()
    _drain("default")
    reference.refresh_from_db()
    for point in ("snapshot.batch:1", "snapshot.progress:1", "snapshot.exported:1"):  # frozen, exporting, exported
        faulted = snapshot()
        kill_and_recover(point, tmp_path, "default")
        _resume(admin_client, f"/snapshots/{faulted.pk}/resume/", faulted)
        _drain("default")
        faulted.refresh_from_db()
        assert_identical(compare("snapshot freeze + export (16 chains)", point, _items(reference) + _files(reference),
                                 _items(faulted) + _files(faulted), faulted.status == "succeeded"))

    stages = [
        ("SFT (8 steps)", "training.log:6", dict(stage="sft", recipe="sft_tiny", snapshot=reference.pk, overrides={
            "max_steps": 8, "save_steps": 4, "logging_steps": 1, "save_total_limit": 1})),
        ("GRPO (4 steps)", "training.log:3", dict(stage="grpo", recipe="grpo_r1aqa_tiny", targets="r1aqa",
                                                  snapshot=reference.pk, overrides={
            "max_steps": 4, "save_steps": 2, "logging_steps": 1, "save_total_limit": 1})),
        ("evaluation (16 items)", "training.log:2", dict(stage="eval", eval_dataset=dataset.pk, overrides={
            "batch_size": 1, "max_new_tokens": 8})),
    ]
    for kind, point, form in stages:
        ref_run = _launch_training(admin_client, base_model=str(student), **form)
        _drain("gpu")
        ref_run.refresh_from_db()
        assert ref_run.status == "succeeded", ref_run.error
        run = _launch_training(admin_client, base_model=str(student), **form)
        kill_and_recover(point, tmp_path, "gpu")
        _resume(admin_client, f"/training/{run.pk}/resume/", run)
        _drain("gpu")
        run.refresh_from_db()
        assert_identical(compare(kind, point, _metrics(ref_run), _metrics(run), run.status == "succeeded"))
