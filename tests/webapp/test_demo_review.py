"""The demo opens with real work: after bootstrap the review queue serves chains whose verdicts a person can check
by ear (a grounded chain passes, one that invents a sound fails)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models import F
from django.test import Client

from pipeline.demo_sounds import (
    AUDIO_DIR,
    CHAINS_NAME,
    CLIPS,
    FLAG_CHAINS_NAME,
    QUESTIONS_NAME,
    build_demo_sounds,
    chains,
)
from pipeline.tiny import build_model
from webapp.catalog.models import Clip, Question
from webapp.curation.management.commands.bootstrap_demo_sounds import DATASET
from webapp.curation.models import Chain, GenerationRun

pytestmark = pytest.mark.django_db(transaction=True)


def test_after_bootstrap_the_queue_serves_chains_with_verdicts_to_check_by_ear(
    settings, tmp_path: Path, curator_client: Client, run_worker, capsys
) -> None:
    settings.VAR_DIR = tmp_path
    started = time.monotonic()
    call_command("bootstrap_demo_sounds", stdout=io.StringIO(), stderr=io.StringIO())
    bootstrapped = time.monotonic()
    run_worker("default")
    with capsys.disabled():  # figures for the notes, never asserted
        print(
            f"\ndemo sounds: bootstrap {bootstrapped - started:.1f} s, then import + validation on the worker "
            f"{time.monotonic() - bootstrapped:.1f} s"
        )
    imported = GenerationRun.objects.get(kind="imported", config__source_name=CHAINS_NAME)
    validation = GenerationRun.objects.get(kind="validation", source_run=imported)
    assert imported.status == validation.status == "succeeded", validation.error or imported.error
    assert imported.progress_metrics["dropped"] == {"wrong_answer": 1, "no_answer": 1}
    flag_demo = GenerationRun.objects.get(kind="imported", config__source_name=FLAG_CHAINS_NAME)
    assert flag_demo.status == "succeeded" and flag_demo.progress_metrics["dropped"] == {"wrong_answer": 3}

    r = curator_client.get("/review/next/")
    assert r.status_code == 302
    question = Question.objects.get(pk=int(r.url.split("/q/")[1].split("/")[0]))
    kept = Chain.objects.filter(question=question, kept=True)
    assert kept.exists() and not kept.filter(verdict__isnull=True).exists()
    page = curator_client.get(r.url).content.decode()
    assert "sound-events: " in page  # its verdicts, whichever the likeliest hallucinations hold
    assert "<audio" in page or "<video" in page
    # The validations that just ran ranked the active queue: the question served is the one ranked highest.
    priorities = list(Chain.objects.filter(question__dataset=question.dataset, kept=True, decision="pending")
                      .values_list("queue_priority", flat=True))
    assert min(priorities) > 0 and kept.first().queue_priority == max(priorities)
    assert "Served first because:" in page

    labels = set(Chain.objects.filter(run=imported, kept=True).values_list("verdict__label", flat=True))
    assert not Chain.objects.filter(run=flag_demo, kept=True, verdict__isnull=True).exists()
    assert {"pass", "fail"} <= labels
    for clip in CLIPS:
        chains = {c.sample_index: c for c in Chain.objects.filter(run=imported,
                                                                  question__external_id=f"demo-sound-{clip.slug}")}
        kinds = list(clip.chains)
        grounded, invented = chains[kinds.index("grounded")], chains[kinds.index("invented")]
        assert grounded.verdict.label == "pass", (clip.slug, grounded.verdict.claims)
        assert invented.verdict.label == "fail", (clip.slug, invented.verdict.claims)


def test_the_demo_shows_a_chain_flag_of_each_kind_and_a_leaked_clip(
    settings, tmp_path: Path, curator_client: Client, run_worker
) -> None:
    from pipeline.demo_sounds import FLAG_CHAINS, LUCKY
    from pipeline.flags import FLAGS
    from webapp.catalog.leakage import dataset_leaks
    from webapp.catalog.models import Dataset

    settings.VAR_DIR = tmp_path
    call_command("bootstrap_demo_sounds", stdout=io.StringIO(), stderr=io.StringIO())
    run_worker("default")
    flagged = {name: Chain.objects.filter(question__dataset__name=DATASET, kept=True).alias(
        b=F("flags").bitand(bit)).filter(b__gt=0) for name, (bit, _label) in FLAGS.items()}
    texts = {name: list(qs.values_list("text", flat=True)) for name, qs in flagged.items()}
    assert FLAG_CHAINS[("robin", "restating")] in texts["restating"]
    assert FLAG_CHAINS[("trumpet", "visual")] in texts["visual_only"]
    assert texts["lucky_guess"] == [LUCKY.chains["steady"]]
    for name, qs in flagged.items():
        r = curator_client.get("/review/", {"flag": name, "dataset": Dataset.objects.get(name=DATASET).slug})
        assert r.context["page"].paginator.count == qs.count(), name
    (row,) = dataset_leaks(Dataset.objects.get(name=DATASET))
    assert (row.found.clips, row.found.texts) == (1, 1) and row.found.examples == ["demo-sound-robin-test"]


def test_bootstrapping_the_demo_sounds_again_changes_nothing(settings, tmp_path: Path, run_worker) -> None:
    settings.VAR_DIR = tmp_path
    call_command("bootstrap_demo_sounds", stdout=io.StringIO(), stderr=io.StringIO())
    # processed in the command, so the queued validation never finds a clip without audio, however many workers
    assert set(Clip.objects.filter(dataset__name=DATASET).values_list("status", flat=True)) == {"ready"}
    counts = (Question.objects.count(), Chain.objects.count(), GenerationRun.objects.count())
    call_command("bootstrap_demo_sounds", stdout=io.StringIO(), stderr=io.StringIO())
    assert (Question.objects.count(), Chain.objects.count(), GenerationRun.objects.count()) == counts


@pytest.fixture(scope="module")
def tiny_judge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model("tiny-qwen2-audio", tmp_path_factory.mktemp("tiny") / "tiny-qwen2-audio")


@pytest.mark.slow
def test_validating_the_demo_with_both_shows_spans_and_the_judges_opinion_beside_each_claim(
    settings, tmp_path: Path, admin_client: Client, curator_client: Client, run_worker, tiny_judge: Path
) -> None:
    """The robin's chains only: the tiny judge takes about 15 s a chain on a busy 2-core machine."""
    folder = build_demo_sounds(tmp_path / "demo")
    call_command(
        "import_mmau",
        str(folder / QUESTIONS_NAME),
        audio=str(folder / AUDIO_DIR),
        dataset="demo",
        process_now=True,
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    robin = tmp_path / "robin.jsonl"
    robin.write_text("".join(json.dumps(row) + "\n" for row in chains() if row["question"] == "demo-sound-robin"))
    call_command("import_chains", str(robin), dataset="demo", now=True, stdout=io.StringIO(), stderr=io.StringIO())
    imported = GenerationRun.objects.get(kind="imported")
    r = admin_client.post(
        "/runs/validate/",
        {
            "source_run": imported.pk,
            "validators": "both",
            "judge_model": str(tiny_judge),
            "judge_backend": "transformers",
        },
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    both = GenerationRun.objects.latest("pk")
    run_worker("gpu")
    both.refresh_from_db()
    assert both.status == "succeeded", both.error
    question = Question.objects.get(external_id="demo-sound-robin")
    kept = list(Chain.objects.filter(question=question, kept=True).order_by("sample_index"))
    policies = [c.verdicts.get(run=both, validator="policy") for c in kept]
    assert all(c.verdict_id == p.pk for c, p in zip(kept, policies, strict=True))  # the newest run is the record
    spans = [claim["spans"] for p in policies for claim in p.claims if claim["spans"]]
    assert spans  # the tagger's time spans for the sounds it heard
    html = curator_client.get(f"/review/q/{question.pk}/").content.decode()
    for claim_spans in spans:
        assert f'data-spans="{json.dumps(claim_spans)}"' in html
    n_claims = sum(len(p.claims) for p in policies)
    assert html.count('<span class="judge-opinion') == n_claims  # the judge's word beside every claim
    assert "policy: pass" in html and "policy: fail" in html
