"""Empty pages say why they are empty: the review queue's four situations, a run that kept nothing, a tiny teacher."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from tests.webapp.review_factories import make_dataset, make_question
from webapp.curation.empty_states import describe_drops
from webapp.curation.models import Chain, GenerationRun, Lease

pytestmark = pytest.mark.django_db


def _empty_next(client: Client, query: str = "") -> str:
    response = client.get(f"/review/next/{query}")
    assert response.status_code == 200, response.get("Location")
    return response.content.decode()


def test_the_empty_queue_says_there_are_no_chains_at_all(curator_client: Client) -> None:
    page = _empty_next(curator_client)
    assert 'data-kind="no-chains"' in page and "There are no chains yet" in page and "Import chains" in page


def test_the_empty_queue_says_no_chain_was_kept_and_why(curator_client: Client) -> None:
    question = make_question(make_dataset(), 1, chains=3)
    Chain.objects.filter(question=question).update(kept=False, drop_reason="no_answer")
    Chain.objects.filter(question=question, sample_index=2).update(drop_reason="wrong_answer")
    page = _empty_next(curator_client)
    assert 'data-kind="none-kept"' in page and "0 of 3 kept: 2 had no answer, 1 wrong answer" in page
    assert "TEACHER_MODEL" in page


def test_the_empty_queue_says_everything_is_decided(curator_client: Client) -> None:
    make_question(make_dataset(), 1, chains=2)
    Chain.objects.update(decision="accepted")
    page = _empty_next(curator_client)
    assert 'data-kind="all-decided"' in page and "All 2 kept chains are decided" in page


def test_the_empty_queue_says_the_rest_is_held_by_other_curators(curator_client: Client, users) -> None:
    question = make_question(make_dataset(), 1, chains=2)
    other = User.objects.create_user("olga", password="pw")
    Lease.objects.create(question=question, curator=other, expires_at=timezone.now() + timedelta(minutes=5))
    page = _empty_next(curator_client)
    assert 'data-kind="held"' in page and "being reviewed by other curators (1 held now)" in page
    assert "expires after 10 minutes" in page


def test_the_empty_queue_says_when_only_its_filters_leave_it_empty(curator_client: Client) -> None:
    make_question(make_dataset(), 1, chains=2)
    page = _empty_next(curator_client, "?split=test")
    assert 'data-kind="filtered"' in page and "2 pending chains lie outside them" in page


def test_a_teacher_run_page_says_what_was_kept_and_that_a_tiny_teacher_writes_noise(
    admin_client: Client, settings
) -> None:
    dataset = make_dataset()
    run = GenerationRun.objects.create(
        dataset=dataset, kind="teacher", status="succeeded", model=str(settings.TINY_MODELS_ROOT / "tiny-qwen2_5-vl")
    )
    question = make_question(dataset, 1, chains=4, run=run)
    Chain.objects.filter(question=question).update(kept=False, drop_reason="no_answer")
    Chain.objects.filter(question=question, sample_index=3).update(drop_reason="wrong_answer")
    page = admin_client.get(f"/runs/{run.pk}/").content.decode()
    assert "<strong>0 of 4 kept: 3 had no answer, 1 wrong answer</strong>" in page
    assert 'id="tiny-model"' in page and "tiny random model" in page and "TEACHER_MODEL" in page
    run.model = "Qwen/Qwen2.5-VL-7B-Instruct"
    run.save()
    assert 'id="tiny-model"' not in admin_client.get(f"/runs/{run.pk}/").content.decode()


def test_drop_reasons_read_as_words() -> None:
    assert (
        describe_drops({"": 3, "duplicate": 2, "bad_format": 1})
        == "1 not in the <think>/<answer> format, 2 near-duplicates"
    )
