"""The demo opens with real work: after bootstrap the review queue serves chains whose verdicts a person can check
by ear (a grounded chain passes, one that invents a sound fails)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from pipeline.demo_sounds import CLIPS
from webapp.catalog.models import Question
from webapp.curation.models import Chain, GenerationRun

pytestmark = pytest.mark.django_db(transaction=True)


def test_after_bootstrap_the_queue_serves_chains_with_verdicts_to_check_by_ear(
    settings, tmp_path: Path, curator_client: Client, run_worker, capsys
) -> None:
    settings.VAR_DIR = tmp_path
    started = time.monotonic()
    call_command("bootstrap_demo_sounds", process_now=True, stdout=io.StringIO(), stderr=io.StringIO())
    run_worker("default")
    with capsys.disabled():  # a figure for the notes, never asserted
        print(f"\ndemo sounds: bootstrap + import + validation {time.monotonic() - started:.1f} s")
    imported = GenerationRun.objects.get(kind="imported")
    validation = GenerationRun.objects.get(kind="validation", source_run=imported)
    assert imported.status == validation.status == "succeeded", validation.error or imported.error
    assert imported.progress_metrics["dropped"] == {"wrong_answer": 1, "no_answer": 1}

    r = curator_client.get("/review/next/")
    assert r.status_code == 302
    question = Question.objects.get(pk=int(r.url.split("/q/")[1].split("/")[0]))
    kept = Chain.objects.filter(question=question, kept=True)
    assert kept.exists() and not kept.filter(verdict__isnull=True).exists()
    page = curator_client.get(r.url).content.decode()
    assert "sound-events: pass" in page and "sound-events: fail" in page
    assert "<audio" in page or "<video" in page

    labels = set(Chain.objects.filter(run=imported, kept=True).values_list("verdict__label", flat=True))
    assert {"pass", "fail"} <= labels
    for clip in CLIPS:
        chains = {c.sample_index: c for c in Chain.objects.filter(question__external_id=f"demo-sound-{clip.slug}")}
        kinds = list(clip.chains)
        grounded, invented = chains[kinds.index("grounded")], chains[kinds.index("invented")]
        assert grounded.verdict.label == "pass", (clip.slug, grounded.verdict.claims)
        assert invented.verdict.label == "fail", (clip.slug, invented.verdict.claims)


def test_bootstrapping_the_demo_sounds_again_changes_nothing(settings, tmp_path: Path, run_worker) -> None:
    settings.VAR_DIR = tmp_path
    call_command("bootstrap_demo_sounds", process_now=True, stdout=io.StringIO(), stderr=io.StringIO())
    counts = (Question.objects.count(), Chain.objects.count(), GenerationRun.objects.count())
    call_command("bootstrap_demo_sounds", stdout=io.StringIO(), stderr=io.StringIO())
    assert (Question.objects.count(), Chain.objects.count(), GenerationRun.objects.count()) == counts
