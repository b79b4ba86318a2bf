"""Teacher generation and validation runs from the web app, on the tiny models and a real RQ worker."""

from __future__ import annotations

import io
import os
import signal
from pathlib import Path

import psutil
import pytest
from django.core.management import call_command
from django.test import Client

from pipeline.tiny import build_all
from tests.webapp.conftest import ANNOTATIONS
from tests.webapp.decoded_once import DecodeCache
from tests.webapp.workers import start_worker, wait_for
from webapp.catalog.models import Dataset
from webapp.curation.models import Chain, GenerationRun, Verdict

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_all(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def avqa(real_videos: Path, decode_cache: DecodeCache, monkeypatch: pytest.MonkeyPatch) -> Dataset:
    """The 10 real clips imported and ingested; their decoding is done once per session (decoded_once.py)."""
    with decode_cache.active(monkeypatch):
        call_command("import_avqa", str(ANNOTATIONS / "avqa_real.json"), videos=str(real_videos),
                     dataset="AVQA sample", process_now=True, stdout=io.StringIO(), stderr=io.StringIO())
    return Dataset.objects.get()


def _launch(client: Client, dataset: Dataset, model: Path, **extra: object) -> GenerationRun:
    data = {"dataset": dataset.pk, "model": str(model), "backend": "transformers", "prompt_version": "teacher-v1",
            "k": 3, "temperature": 1.0, "top_p": 0.95, "max_new_tokens": 24, "seed": 0, **extra}
    r = client.post("/runs/new/", data)
    assert r.status_code == 302, r.content.decode()[:2000]
    return GenerationRun.objects.latest("pk")


def _no_duplicates(run: GenerationRun) -> None:
    keys = list(Chain.objects.filter(run=run).values_list("question_id", "sample_index"))
    assert len(keys) == len(set(keys))


def test_it_runs_teacher_generation_then_validation_from_the_ui(admin_client: Client, avqa: Dataset,
                                                                tiny_models: dict[str, Path], run_worker) -> None:
    run = _launch(admin_client, avqa, tiny_models["tiny-qwen2_5-vl"], limit=4, validate_after="sound-events")
    assert run.status == "queued" and run.prompt_template and run.config["k"] == 3
    run_worker("gpu")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert Chain.objects.filter(run=run).count() == 4 * 3
    _no_duplicates(run)
    assert run.progress_done == run.progress_total == 4 and "chains_per_s" in run.progress_metrics
    validation = GenerationRun.objects.get(source_run=run)
    assert validation.queue_name == "default"
    run_worker("default")
    validation.refresh_from_db()
    assert validation.status == "succeeded", validation.error
    kept = Chain.objects.filter(run=run, kept=True).count()
    assert Verdict.objects.filter(run=validation).values("chain").distinct().count() == kept
    page = admin_client.get(f"/runs/{validation.pk}/").content.decode()
    assert "Succeeded" in page
    question = Chain.objects.filter(run=run).first().question
    html = admin_client.get(f"/questions/{question.pk}/").content.decode()
    assert html.count('<article class="chain') == 3


def test_it_records_each_questions_agreement_and_reports_what_each_rule_dropped(
        admin_client: Client, avqa: Dataset, tiny_models: dict[str, Path], run_worker) -> None:
    from webapp.curation.models import TeacherQuestion

    run = _launch(admin_client, avqa, tiny_models["tiny-qwen2_5-vl"], limit=2, min_agreement=0.5)
    assert run.config["min_agreement"] == 0.5
    run_worker("gpu")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    stats = list(TeacherQuestion.objects.filter(run=run).order_by("question_id"))
    assert [s.question_id for s in stats] == sorted(set(Chain.objects.filter(run=run).values_list(
        "question_id", flat=True)))
    for s in stats:
        chains = Chain.objects.filter(run=run, question_id=s.question_id)
        assert s.n_samples == 3 and 0.0 <= s.agreement <= 1.0
        assert s.n_parsed == chains.exclude(drop_reason="no_answer").count()
        assert s.n_correct == chains.filter(is_correct=True).count()
    page = admin_client.get(f"/runs/{run.pk}/").content.decode()
    assert "Selection" in page
    for reason in ("no_answer", "wrong_answer", "low_agreement", "not_majority", "bad_format", "duplicate"):
        dropped = Chain.objects.filter(run=run, drop_reason=reason).count()
        assert f'<tr><th>{reason}</th><td>{dropped}</td>' in page, reason


def test_it_offers_a_token_budget_that_fits_a_whole_chain(admin_client: Client) -> None:
    form = admin_client.get("/runs/new/").content.decode()
    assert 'name="max_new_tokens" value="1024"' in form and 'name="min_agreement"' in form


def test_it_validates_form_input(admin_client: Client, avqa: Dataset, tiny_models: dict[str, Path]) -> None:
    r = admin_client.post("/runs/new/", {"dataset": avqa.pk, "model": "x", "backend": "nope", "k": 0})
    assert r.status_code == 400 and GenerationRun.objects.count() == 0


def test_it_keeps_curators_out_of_launching(curator_client: Client) -> None:
    assert curator_client.get("/runs/new/").status_code == 403
    assert curator_client.get("/runs/").status_code == 200


def test_it_cancels_a_queued_run_so_it_never_starts(admin_client: Client, avqa: Dataset,
                                                   tiny_models: dict[str, Path], run_worker) -> None:
    run = _launch(admin_client, avqa, tiny_models["tiny-qwen2_5-vl"], limit=2)
    assert admin_client.post(f"/runs/{run.pk}/cancel/").status_code == 302
    run_worker("gpu")
    run.refresh_from_db()
    assert run.status == "cancelled" and not Chain.objects.filter(run=run).exists()
    assert admin_client.post(f"/runs/{run.pk}/cancel/").status_code == 400


def test_it_resumes_without_duplicates_after_the_work_horse_is_killed(
    admin_client: Client, avqa: Dataset, tiny_models: dict[str, Path], run_worker
) -> None:
    run = _launch(admin_client, avqa, tiny_models["tiny-qwen2_5-vl"], max_new_tokens=48)
    worker = start_worker(capture=True)
    try:
        wait_for(lambda: Chain.objects.filter(run=run).exists(), worker, "produced a chain")
        horses = psutil.Process(worker.pid).children()
        assert horses, "no work-horse to kill"
        for horse in horses:
            os.kill(horse.pid, signal.SIGKILL)
        worker.wait(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    partial = Chain.objects.filter(run=run).count()
    total_questions = avqa.questions.count()
    assert 0 < partial < total_questions * 3, partial
    admin_client.get(f"/runs/{run.pk}/")  # the next look notices the dead job
    run.refresh_from_db()
    assert run.status == "failed" and "worker" in run.error
    assert admin_client.post(f"/runs/{run.pk}/resume/").status_code == 302
    run_worker("gpu")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert Chain.objects.filter(run=run).count() == total_questions * 3
    _no_duplicates(run)


def test_an_openai_backed_run_keeps_its_endpoint_but_never_a_key(admin_client: Client, avqa: Dataset,
                                                                 settings) -> None:
    settings.MODEL_SERVER_KEY_ENVS = ["OPENAI_API_KEY", "TEACHER_API_KEY"]  # what this deployment allows
    bad = admin_client.post("/runs/new/", {"dataset": avqa.pk, "model": "served", "backend": "openai",
                                           "prompt_version": "teacher-v1", "k": 2, "temperature": 1.0, "top_p": 1.0,
                                           "max_new_tokens": 16, "seed": 0})
    assert bad.status_code == 400 and b"needs the server" in bad.content
    run = _launch(admin_client, avqa, Path("teacher-7b"), backend="openai", endpoint="http://gpu-box:8000/v1",
                  server_kind="openai", api_key_env="TEACHER_API_KEY")
    assert run.backend == "openai" and run.queue_name == "default"  # HTTP only: any worker can send it
    assert run.config["batch_size"] == 32  # servers batch continuously: bigger calls keep them busy
    assert run.config["backend_options"] == {"base_url": "http://gpu-box:8000/v1", "server": "openai",
                                             "api_key_env": "TEACHER_API_KEY"}
    refused = admin_client.post("/runs/new/", {"dataset": avqa.pk, "model": "m", "backend": "openai",
                                               "endpoint": "http://x/v1", "api_key_env": "sk-not-a-name",
                                               "prompt_version": "teacher-v1", "k": 2, "temperature": 1.0,
                                               "top_p": 1.0, "max_new_tokens": 16, "seed": 0})
    assert refused.status_code == 400  # the key's *name* only: a pasted secret is refused, never stored


def test_a_vllm_run_without_vllm_in_the_worker_fails_with_how_to_get_it(admin_client: Client, avqa: Dataset,
                                                                       tiny_models: dict[str, Path],
                                                                       run_worker) -> None:
    run = _launch(admin_client, avqa, tiny_models["tiny-qwen2_5-vl"], backend="vllm", limit=1)
    run_worker("gpu")
    run.refresh_from_db()
    assert run.status == "failed" and "requirements-gpu.txt" in run.error and "setup_vllm.sh" in run.error


def test_it_never_sends_worker_secrets_where_a_form_says(admin_client: Client, curator_client: Client, avqa: Dataset,
                                                        run_worker, settings) -> None:
    """Only allow-listed key variables; internal addresses refused when the worker sends; errors for admins only."""
    base = {"dataset": avqa.pk, "model": "served", "backend": "openai", "prompt_version": "teacher-v1", "k": 1,
            "temperature": 1.0, "top_p": 0.95, "max_new_tokens": 8, "seed": 0, "limit": 1}
    for key in ("SECRET_KEY", "DATABASE_URL"):
        r = admin_client.post("/runs/new/", {**base, "endpoint": "https://api.example.com/v1", "api_key_env": key})
        assert r.status_code == 400 and not GenerationRun.objects.exists(), key
    run = _launch(admin_client, avqa, Path("served"), backend="openai", endpoint="http://169.254.169.254/v1",
                  api_key_env="OPENAI_API_KEY", k=1, limit=1)
    run_worker("default")
    run.refresh_from_db()
    assert run.status == "failed" and "refusing 169.254.169.254" in run.error
    assert "169.254.169.254" in admin_client.get(f"/runs/{run.pk}/").content.decode()
    page = curator_client.get(f"/runs/{run.pk}/").content.decode()
    assert "refusing" not in page and "shown to admins" in page
