"""What a run will cost: one estimate per class of worker that has run the kind (GPU-hours on GPUs), the run at full
size when limited, documented GPUs for a 7B model not yet seen, and after the run the estimate beside what it took
(webapp/core/estimates.py, gpu_reference.py; curation/estimates.py, training/estimates.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from pipeline import hardware
from pipeline.prompts import PROMPTS
from tests.webapp.review_factories import make_dataset, make_question
from webapp.curation.models import GenerationRun

pytestmark = pytest.mark.django_db


def earlier(dataset, worker_class: str, rate: float, model: str = "") -> GenerationRun:  # type: ignore[no-untyped-def]
    return GenerationRun.objects.create(dataset=dataset, status="succeeded", finished_at=timezone.now(), model=model,
                                        worker_class=worker_class, progress_metrics={"chains_per_s": rate})


def test_each_worker_class_gets_its_own_line_with_gpu_hours_and_the_full_size(admin_client: Client) -> None:
    dataset = make_dataset()
    for n in range(30):
        make_question(dataset, n, chains=0)
    cpu = earlier(dataset, "CPU ×2", 0.05)
    gpu = earlier(dataset, "NVIDIA H200 ×8", 0.5)
    fragment = admin_client.get("/runs/new/", {"estimate": "1", "dataset": dataset.pk, "k": "8",
                                               "limit": "3"}).content.decode()
    assert (f"24 chains: under a minute at the 0.5 chains/s measured in run #{gpu.pk} (NVIDIA H200 ×8); full size, "
            "240 chains: about 8 min (1.1 GPU-hours).<br>") in fragment
    assert (f"24 chains: about 8 min at the 0.05 chains/s measured in run #{cpu.pk} (CPU ×2); full size, "
            "240 chains: about 80 min.") in fragment


def test_a_7b_teacher_is_estimated_on_gpus_not_seen_yet_from_the_documented_figures(admin_client: Client) -> None:
    dataset = make_dataset()
    for n in range(100):
        make_question(dataset, n, chains=0)
    earlier(dataset, "NVIDIA H200 ×1", 1.2, model="Qwen/Qwen2.5-VL-7B-Instruct")
    page = admin_client.get("/runs/new/", {"estimate": "1", "dataset": dataset.pk, "k": "8",
                                           "model": "Qwen/Qwen2.5-VL-7B-Instruct"}).content.decode()
    assert "measured in run" in page and "(NVIDIA H200 ×1)" in page
    assert ("800 chains: about 13 min at the 0.998 chains/s measured in the H200 figure in docs/gpu.md, scaled by "
            "memory bandwidth (NVIDIA H100 ×1)") in page
    assert page.count("docs/gpu.md") == 1  # the H200 was measured here: its own rate, not the documented one
    tiny = admin_client.get("/runs/new/", {"estimate": "1", "dataset": dataset.pk, "model": "/models/tiny-vl"})
    assert "docs/gpu.md" not in tiny.content.decode()


def test_only_the_model_name_says_7b_not_the_folder_it_lies_in(admin_client: Client) -> None:
    # CI once failed when the suite's random temporary folder (which holds the tiny models) was named "...a7bq...":
    # the tiny teacher under it was taken for a 7B model and estimated from the documented H200 figures
    dataset = make_dataset()
    make_question(dataset, 1, chains=0)
    for model in ("/tmp/sightsound-tests-a7bq2x/models/tiny-qwen2_5-vl", "/srv/7b/tiny-vl", "/models/tiny-vl-17b"):
        page = admin_client.get("/runs/new/", {"estimate": "1", "dataset": dataset.pk, "model": model})
        assert "No earlier run to estimate from" in page.content.decode(), model
    local = admin_client.get("/runs/new/", {"estimate": "1", "dataset": dataset.pk,
                                            "model": "/checkpoints/Qwen2.5-VL-7B-Instruct/"})
    assert "docs/gpu.md" in local.content.decode()


def test_a_launch_keeps_its_estimate_and_the_run_page_sets_it_beside_what_it_took(admin_client: Client) -> None:
    dataset = make_dataset()
    for n in range(30):
        make_question(dataset, n, chains=0)
    earlier(dataset, "CPU ×2", 0.05)
    r = admin_client.post("/runs/new/", {"dataset": dataset.pk, "k": "4", "model": "/models/tiny", "backend":
                                         "transformers", "max_new_tokens": "64", "temperature": "1.0",
                                         "top_p": "1.0", "seed": "0", "prompt_version": next(iter(PROMPTS))})
    assert r.status_code == 302, r.context["form"].errors
    run = GenerationRun.objects.get(pk=int(r.url.rstrip("/").rsplit("/", 1)[1]))
    assert run.estimate["by_class"]["CPU ×2"]["seconds"] == 2400.0 and run.estimate["amount"] == 120
    now = timezone.now()
    GenerationRun.objects.filter(pk=run.pk).update(status="succeeded", worker_class="CPU ×2", attempt=1,
                                                   started_at=now - timedelta(minutes=60), finished_at=now)
    page = admin_client.get(f"/runs/{run.pk}/").content.decode()
    assert "Estimated about 40 min on CPU ×2 (from run #" in page
    assert "took about 60 min: 1.50× the estimate." in page
    GenerationRun.objects.filter(pk=run.pk).update(worker_class="NVIDIA H100 ×1")
    page = admin_client.get(f"/runs/{run.pk}/").content.decode()
    assert "No estimate for NVIDIA H100 ×1: the launch estimated only for CPU ×2." in page


def test_a_job_records_the_class_of_worker_it_ran_on(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(hardware.ENV, "a100-80g")
    hardware.worker_class.cache_clear()
    try:
        run = GenerationRun.objects.create(dataset=make_dataset(), status="queued", attempt=1)
        assert run.carry_out(1, lambda: "done") == "done"
        assert GenerationRun.objects.get(pk=run.pk).worker_class == "a100-80g"
    finally:
        hardware.worker_class.cache_clear()
    assert hardware.gpu_count("a100-80g") == 1 and hardware.gpu_count("CPU ×16") == 0
