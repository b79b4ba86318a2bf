"""The learnable demo task end to end in the app, as an admin would run it (docs/demo.md): install, snapshot the train
split, SFT with the `sft_demo_task` recipe, evaluate the pretrained and the trained student on the test split, and
the comparison shows a real gain with its interval. Minutes of CPU: the `learning` tier."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client

from pipeline import tiny
from pipeline.demo_task import DATASET_NAME
from webapp.curation.models import Chain, GenerationRun, Review
from webapp.training.demo_task import install
from webapp.training.models import DatasetSnapshot, TrainingRun

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.learning]
EVAL = {"max_new_tokens": 48, "batch_size": 50}  # the same budget for both students; chains are ~25 tokens


def _post(client: Client, url: str, data: dict[str, object]) -> None:
    r = client.post(url, {k: json.dumps(v) if k == "overrides" else v for k, v in data.items()})
    assert r.status_code == 302, r.content.decode()[:2000]


def test_it_runs_the_demo_task_to_a_comparison_that_shows_a_real_gain(
    admin_client: Client, users, media_root: Path, run_worker, tmp_path: Path
) -> None:
    dataset = install(users["admin"], tmp_path / "demo_task", process_now=True)
    assert dataset.name == DATASET_NAME
    questions = dataset.questions
    assert questions.filter(split="train").count() == 256 and questions.filter(split="test").count() == 100
    imported = GenerationRun.objects.get(dataset=dataset)
    assert imported.kind == "imported" and imported.status == "succeeded"
    assert Chain.objects.filter(run=imported, decision="accepted").count() == 256
    reviews = Review.objects.count()
    install(users["admin"], tmp_path / "demo_task", process_now=True)  # idempotent: nothing new
    assert GenerationRun.objects.filter(dataset=dataset).count() == 1 and Review.objects.count() == reviews

    _post(admin_client, "/snapshots/new/", {"dataset": dataset.pk, "split": "train"})
    run_worker("default")
    snapshot = DatasetSnapshot.objects.get(dataset=dataset)
    assert snapshot.status == "succeeded", snapshot.error

    student = tiny.build_model("tiny-qwen2-audio-2s", tmp_path / "models" / "tiny-qwen2-audio-2s")
    _post(admin_client, "/training/new/", {"stage": "sft", "name": "demo SFT", "base_model": str(student),
                                           "snapshot": snapshot.pk, "recipe": "sft_demo_task"})
    run_worker("gpu")
    sft = TrainingRun.objects.get(name="demo SFT")
    assert sft.status == "succeeded", sft.error
    _post(admin_client, "/training/new/", {"stage": "eval", "name": "pretrained", "base_model": str(student),
                                           "eval_dataset": dataset.pk, "eval_split": "test", "overrides": EVAL})
    _post(admin_client, "/training/new/", {"stage": "eval", "name": "after SFT", "base_model": "ignored",
                                           "parent": sft.pk, "eval_dataset": dataset.pk, "eval_split": "test",
                                           "overrides": EVAL})
    run_worker("gpu")
    before, after = TrainingRun.objects.get(name="pretrained"), TrainingRun.objects.get(name="after SFT")
    for ev in (before, after):
        assert ev.status == "succeeded" and ev.results["n"] == 100 and ev.results["in_sample"] is False, ev.error
    b, a = before.results["summary"], after.results["summary"]
    figures = (f"pretrained {b['accuracy']:.2f} [{b['ci_low']:.2f}, {b['ci_high']:.2f}], after SFT "
               f"{a['accuracy']:.2f} [{a['ci_low']:.2f}, {a['ci_high']:.2f}], silenced {a['silent_accuracy']:.2f}")
    print(f"DEMO TASK IN THE APP: {figures}")
    assert a["ci_low"] > b["ci_high"], figures  # a real gain: the intervals do not overlap
    assert a["accuracy"] >= 0.8 and a["silent_accuracy"] <= 0.4, figures  # and it comes from the sound
    page = admin_client.get(f"/training/compare/?runs={before.pk}&runs={after.pk}").content.decode()
    assert "n=100" in page and "pretrained student" in page and 'class="ci"' in page
