"""Run status transitions and the constraints that make duplicate imports impossible."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from webapp.catalog.models import Clip, Dataset, ImportRun, Question
from webapp.curation.models import Chain, GenerationRun, Review

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset() -> Dataset:
    return Dataset.objects.create(name="d", slug="d", source_format="avqa")


@pytest.fixture
def clip(dataset: Dataset) -> Clip:
    return Clip.objects.create(dataset=dataset, name="c", kind="video", media_path="media/d/c.mp4")


def _question(dataset: Dataset, clip: Clip, external_id: str = "1") -> Question:
    return Question.objects.create(dataset=dataset, clip=clip, external_id=external_id, text="?", choices=["a", "b"],
                                   answer_index=0, answer_text="a", split="train", content_hash="h")


def test_it_moves_a_run_through_its_life_cycle(dataset: Dataset) -> None:
    run = ImportRun.objects.create(dataset=dataset, source_format="avqa", source_name="f.json", split="train")
    assert run.status == "queued" and run.is_active
    assert run.mark_running("job-1") and run.status == "running"
    run.report_progress(5, 10, {"rows": 5})
    run.refresh_from_db()
    assert run.progress_percent == 50 and run.progress_metrics == {"rows": 5}
    assert run.mark_succeeded() and not run.is_active


def test_it_never_lets_a_late_success_overwrite_a_cancel(dataset: Dataset) -> None:
    run = ImportRun.objects.create(dataset=dataset, source_format="avqa", source_name="f.json", split="train")
    run.mark_running()
    stale = ImportRun.objects.get(pk=run.pk)
    assert run.mark_cancelled()
    assert not stale.mark_succeeded()
    run.refresh_from_db()
    assert run.status == "cancelled"


def test_it_stores_the_traceback_of_a_failure(dataset: Dataset) -> None:
    run = ImportRun.objects.create(dataset=dataset, source_format="avqa", source_name="f.json", split="train")
    run.mark_running()
    try:
        raise RuntimeError("disk full")
    except RuntimeError as exc:
        run.mark_failed(exc)
    run.refresh_from_db()
    assert run.status == "failed" and "Traceback" in run.error and "disk full" in run.error


def test_it_makes_duplicate_questions_and_clips_impossible(dataset: Dataset, clip: Clip) -> None:
    _question(dataset, clip)
    with pytest.raises(IntegrityError), transaction.atomic():
        _question(dataset, clip)
    with pytest.raises(IntegrityError), transaction.atomic():
        Clip.objects.create(dataset=dataset, name="c", kind="video", media_path="media/d/other.mp4")


def test_it_requires_media_unless_the_clip_is_marked_missing(dataset: Dataset) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Clip.objects.create(dataset=dataset, name="x", kind="video", media_path="", status="pending")
    Clip.objects.create(dataset=dataset, name="y", kind="video", media_path="", status="missing")


def test_it_refuses_an_answer_index_without_choices(dataset: Dataset, clip: Clip) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Question.objects.create(dataset=dataset, clip=clip, external_id="o", text="?", choices=[], answer_index=0,
                                answer_text="x", split="train", content_hash="h")


def test_it_keys_chains_so_a_retried_job_cannot_duplicate_them(dataset: Dataset, clip: Clip) -> None:
    q = _question(dataset, clip)
    run = GenerationRun.objects.create(dataset=dataset, model="tiny")
    Chain.objects.create(run=run, question=q, sample_index=0, text="<think>x</think><answer>A</answer>")
    with pytest.raises(IntegrityError), transaction.atomic():
        Chain.objects.create(run=run, question=q, sample_index=0, text="again")


def test_it_refuses_two_reviews_written_against_the_same_chain_version(dataset: Dataset, clip: Clip) -> None:
    q = _question(dataset, clip)
    chain = Chain.objects.create(run=GenerationRun.objects.create(dataset=dataset, model="tiny"), question=q,
                                 sample_index=0, text="t")
    user = User.objects.create_user("c")
    Review.objects.create(chain=chain, curator=user, action="accept", from_decision="pending",
                          to_decision="accepted", chain_version=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        Review.objects.create(chain=chain, curator=user, action="reject", from_decision="pending",
                              to_decision="rejected", chain_version=0)


def test_it_stores_model_output_with_nul_bytes_on_every_backend(dataset: Dataset, clip: Clip) -> None:
    from webapp.core.text import db_safe, db_safe_json

    q = _question(dataset, clip)
    run = GenerationRun.objects.create(dataset=dataset, model="tiny")
    chain = Chain.objects.create(run=run, question=q, sample_index=0, text=db_safe("<think>a\x00b</think>"))
    chain.refresh_from_db()
    assert chain.text == "<think>a\ufffdb</think>"
    assert db_safe_json({"claims": [{"text": "x\x00"}], "n": 1}) == {"claims": [{"text": "x\ufffd"}], "n": 1}


def test_it_keeps_run_life_cycles_and_chain_decisions_out_of_the_admins_hands(users) -> None:  # type: ignore[no-untyped-def]
    """Editing a run's status or a chain's decision in the Django admin would bypass the guarded transitions
    and the review history; those fields are read-only there."""
    from django.test import Client

    from tests.webapp.review_factories import make_dataset, make_question
    from webapp.training.models import TrainingRun

    users["admin"].is_superuser = users["admin"].is_staff = True
    users["admin"].save()
    client = Client()
    client.force_login(users["admin"])
    run = TrainingRun.objects.create(stage="eval", base_model="m", status="running")
    page = client.get(f"/admin/training/trainingrun/{run.pk}/change/").content.decode()
    assert 'name="status"' not in page and 'name="base_model"' in page
    client.post(f"/admin/training/trainingrun/{run.pk}/change/",
                {"stage": "eval", "base_model": "m", "status": "succeeded", "config": "{}", "environment": "{}",
                 "results": "{}"})
    run.refresh_from_db()
    assert run.status == "running"
    chain = make_question(make_dataset(), 1).chains.first()
    page = client.get(f"/admin/curation/chain/{chain.pk}/change/").content.decode()
    assert 'name="decision"' not in page and 'name="version"' not in page and 'name="text"' not in page
