"""SIGKILL of the RQ work-horse during each kind of job, then the operator's recovery: the end state equals an
uninterrupted run's (same rows by natural key, metric keys, values within 1e-6), with nothing lost or doubled.

Each kill happens at a named failpoint (webapp/core/failpoints.py) just after a batch committed, three points for
the cheap jobs and one for the training stages. Recovery is `recover_jobs` (a killed run turns failed, stuck
clips are queued again) and then the run's resume; for an import or a bulk action the resume re-runs them,
which both are idempotent by design.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.webapp.faults.harness import assert_identical, compare, kill_at, recover, settle
from tests.webapp.test_teacher_runs import _launch, avqa, tiny_models  # noqa: F401
from webapp.catalog.imports import get_or_create_dataset, queue_upload
from webapp.catalog.models import Dataset, ImportRun, Question
from webapp.curation.models import Chain, GenerationRun, Verdict
from webapp.curation.runs import launch_validation

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
    kill_at(point, tmp_path, "default")
    settle()
    recover()
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
    kill_at(teacher_point, tmp_path, "gpu")
    settle()
    recover()
    _resume(admin_client, f"/runs/{faulted.pk}/resume/", faulted)
    run_worker("gpu")
    faulted.refresh_from_db()
    assert_identical(compare("teacher (6 questions, K=2)", teacher_point, _chains(reference), _chains(faulted),
                             faulted.status == "succeeded"))

    ref_check = launch_validation(reference, "sound-events", "", include_dropped=True, user=None)
    run_worker("default")
    check = launch_validation(faulted, "sound-events", "", include_dropped=True, user=None)
    kill_at(validation_point, tmp_path, "default")
    settle()
    recover()
    _resume(admin_client, f"/runs/{check.pk}/resume/", check)
    run_worker("default")
    check.refresh_from_db()
    ref_check.refresh_from_db()
    assert ref_check.status == "succeeded", ref_check.error
    assert_identical(compare("validation (12 chains)", validation_point, _verdicts(ref_check), _verdicts(check),
                             check.status == "succeeded"))
