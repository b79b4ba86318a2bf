"""Launch forms that explain themselves: sections, the dataset first and chosen, fields for the chosen backend only,
and an estimate of the run's length from the throughput earlier runs measured on this deployment."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.webapp.review_factories import make_dataset, make_question
from webapp.curation.models import GenerationRun

pytestmark = pytest.mark.django_db


def test_it_lays_the_teacher_form_out_in_sections_with_the_most_recent_dataset_chosen(admin_client: Client) -> None:
    older = make_dataset("older")
    older.created_at = timezone.now() - timedelta(days=1)
    older.save()
    newer = make_dataset("newer")
    page = admin_client.get("/runs/new/").content.decode()
    legends = [page.index(f"<legend>{name}</legend>") for name in ("Data", "Teacher", "Sampling")]
    assert legends == sorted(legends) and legends[0] < page.index('name="dataset"') < legends[1]
    assert f'<option value="{newer.pk}" selected>newer</option>' in page
    assert f'<option value="{older.pk}">older</option>' in page


def test_it_marks_the_fields_of_one_backend_for_the_script_that_hides_them(admin_client: Client) -> None:
    page = admin_client.get("/runs/new/").content.decode()
    for name in ("endpoint", "server_kind", "api_key_env"):
        field = page[page.index(f'name="{name}"') - 200:page.index(f'name="{name}"') + 200]
        assert 'data-shown-when="backend=openai"' in field
    assert 'data-shown-when="stage=eval"' in admin_client.get("/training/new/").content.decode()


def test_it_says_there_is_nothing_to_estimate_from_before_the_first_run(admin_client: Client) -> None:
    # before the first run: once in CI on PostgreSQL a run measured by an earlier test was still there (committed
    # after that test's flush, by a process it started: not found yet), and this page rightly estimated from it
    GenerationRun.objects.all().delete()
    make_question(make_dataset(), 1, chains=0)
    page = admin_client.get("/runs/new/").content.decode()
    assert 'id="estimate">No earlier run to estimate from' in page


def test_it_estimates_a_teacher_run_from_the_throughput_an_earlier_run_measured(admin_client: Client) -> None:
    dataset = make_dataset()
    for n in range(30):
        make_question(dataset, n, chains=0)
    earlier = GenerationRun.objects.create(dataset=dataset, status="succeeded", finished_at=timezone.now(),
                                           progress_metrics={"chains": 64, "chains_per_s": 0.05})
    page = admin_client.get("/runs/new/").content.decode()  # K=4 by default: 120 chains at 0.05/s = 40 min
    assert f'id="estimate">120 chains: about 40 min at the 0.05 chains/s measured in run #{earlier.pk}.' in page
    page = admin_client.get("/runs/new/", {"dataset": dataset.pk}).content.decode()
    assert "120 chains: about 40 min" in page


def test_every_launch_form_comes_in_sections(admin_client: Client) -> None:
    make_dataset()
    for url, legend in (("/runs/validate/", "Judge"), ("/snapshots/new/", "Which chains"),
                        ("/training/new/", "Training")):
        page = admin_client.get(url)
        assert page.status_code == 200 and f"<legend>{legend}</legend>" in page.content.decode(), url
    assert 'id="estimate"></p>' in admin_client.get("/runs/validate/").content.decode()  # no teacher run to judge


def test_it_estimates_a_training_run_from_the_steps_per_second_an_earlier_run_measured(admin_client: Client) -> None:
    from webapp.training.models import DatasetSnapshot, TrainingRun

    snapshot = DatasetSnapshot.objects.create(dataset=make_dataset(), version=1, status="succeeded")
    assert 'id="estimate">No earlier run to estimate from' in admin_client.get(
        "/training/new/", {"estimate": "1", "stage": "sft", "recipe": "sft_tiny"}).content.decode()
    earlier = TrainingRun.objects.create(stage="sft", base_model="/models/student", status="succeeded",
                                         snapshot=snapshot, finished_at=timezone.now(),
                                         progress_metrics={"steps_per_s": 2.0})
    TrainingRun.objects.create(stage="grpo", base_model="/models/student", status="succeeded", snapshot=snapshot,
                               finished_at=timezone.now(), progress_metrics={"steps_per_s": 0.01})
    fragment = admin_client.get("/training/new/", {"estimate": "1", "stage": "sft", "recipe": "sft_tiny",
                                                   "overrides": '{"max_steps": 600}'}).content.decode()
    assert fragment.strip().endswith(
        f'id="estimate">600 steps: about 5 min at the 2 steps/s measured in training run #{earlier.pk}.</p>')
    assert "<form" not in fragment  # the fragment alone, for the form to swap in
    # The recipe's own max_steps (sft_tiny: 20) while the overrides do not parse yet; nothing for an evaluation.
    page = admin_client.get("/training/new/", {"estimate": "1", "stage": "sft", "recipe": "sft_tiny",
                                               "overrides": '{"max_st'}).content.decode()
    assert "20 steps: under a minute at the 2 steps/s" in page
    evaluation = admin_client.get("/training/new/", {"estimate": "1", "stage": "eval"}).content.decode()
    assert 'id="estimate"></p>' in evaluation


def test_it_answers_a_changed_teacher_form_with_the_new_estimate(admin_client: Client) -> None:
    dataset = make_dataset()
    for n in range(30):
        make_question(dataset, n, chains=0)
    GenerationRun.objects.create(dataset=dataset, status="succeeded", finished_at=timezone.now(),
                                 progress_metrics={"chains_per_s": 0.05})
    fragment = admin_client.get("/runs/new/", {"estimate": "1", "dataset": dataset.pk, "k": "8"}).content.decode()
    assert "240 chains: about 80 min" in fragment and "<form" not in fragment
