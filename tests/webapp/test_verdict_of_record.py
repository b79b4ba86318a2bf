"""One verdict of record per chain: the deciding verdict of the newest validation run that succeeded on it.

Real validation runs (the YAMNet tagger, and for `both` the tiny Qwen2-Audio judge) on a real talk-show clip, through
the launch form and a real RQ worker. The invented chain names four sounds that are on the clip and a dog that is
not: the score policy passes it (0.8 ≥ 0.75), the default policy fails it. Before, re-validating stored nothing
(same validator version) and every filter read "any stored verdict says pass".
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from pipeline.tiny import build_model
from pipeline.validate import tag_store
from pipeline.validate.sound_events import default_tagger
from tests.webapp.conftest import ANNOTATIONS
from tests.webapp.decoded_once import DecodeCache
from webapp.catalog.models import Dataset, Question
from webapp.core import storage
from webapp.curation.models import Chain, GenerationRun, Verdict
from webapp.curation.review import claim, decide
from webapp.curation.review.dashboards import validator_agreement
from webapp.curation.review.forms import ReviewFilterForm
from webapp.training.models import DatasetSnapshot

pytestmark = pytest.mark.django_db(transaction=True)

TALK_SHOW = "001MzJlnyqc_000020"
INVENTED = ("<think>Two hosts sit on a studio set. They chat with each other, and the audience laughs at a joke. "
            "A man speaks into a microphone. A woman talks back to him. A dog barks loudly outside.</think>"
            "<answer>B</answer>")
HONEST = ("<think>Two hosts sit on a studio set. They chat with each other, and the audience laughs at a joke."
          "</think><answer>B</answer>")
STRICT = "any contradicted sound claim fails the chain"


@pytest.fixture
def chains(real_videos: Path, decode_cache: DecodeCache, monkeypatch: pytest.MonkeyPatch) -> dict[str, Chain]:
    with decode_cache.active(monkeypatch):  # ingest is not the subject: each clip decoded once per session
        call_command("import_avqa", str(ANNOTATIONS / "avqa_real.json"), videos=str(real_videos),
                     dataset="AVQA sample", process_now=True, stdout=io.StringIO(), stderr=io.StringIO())
    question = Question.objects.filter(clip__name=TALK_SHOW).first()
    teacher = GenerationRun.objects.create(dataset=Dataset.objects.get(), kind=GenerationRun.Kind.TEACHER,
                                           status="succeeded", model="teacher")
    return {name: Chain.objects.create(run=teacher, question=question, sample_index=i, text=text, parsed_answer=1,
                                       is_correct=True)
            for i, (name, text) in enumerate((("invented", INVENTED), ("honest", HONEST)))}


def _validate(client: Client, run_worker, teacher: GenerationRun, queue: str = "default",
              **data: str) -> GenerationRun:
    r = client.post("/runs/validate/", {"source_run": teacher.pk, "validators": "sound-events",
                                        "judge_backend": "transformers", **data})
    assert r.status_code == 302, r.content.decode()[:2000]
    run = GenerationRun.objects.latest("pk")
    run_worker(queue)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    return run


def _record(chain: Chain) -> Verdict:
    chain.refresh_from_db()
    return chain.verdict


def test_revalidating_under_another_policy_stores_its_verdicts_and_becomes_the_record(
        admin_client: Client, run_worker, chains: dict[str, Chain]) -> None:
    teacher = chains["invented"].run
    lenient = _validate(admin_client, run_worker, teacher, policy="score")
    strict = _validate(admin_client, run_worker, teacher)  # the default policy
    assert chains["invented"].verdicts.count() == 2  # both runs' verdicts are stored; the lenient one is history
    assert len(set(chains["invented"].verdicts.values_list("validator_version", flat=True))) == 2
    assert chains["invented"].verdicts.get(run=lenient).label == "pass"
    record = _record(chains["invented"])
    assert record.run == strict and record.label == "fail"
    assert "contradicted sound claim fails" in record.rationale
    assert _record(chains["honest"]).label == "pass"
    assert STRICT in admin_client.get(f"/runs/{strict.pk}/").content.decode()
    assert "pass at ≥ 0.75" in admin_client.get(f"/runs/{lenient.pk}/").content.decode()


def test_revalidating_reads_the_clips_stored_tags_instead_of_tagging_again(
        admin_client: Client, run_worker, chains: dict[str, Chain]) -> None:
    teacher = chains["invented"].run
    wav = storage.resolve(chains["invented"].question.clip.audio_path)
    assert not tag_store.tags_path(wav).exists()
    _validate(admin_client, run_worker, teacher, policy="score")
    assert tag_store.load(wav, default_tagger()) is not None  # the first validation stored the clip's tags
    written = tag_store.tags_path(wav).stat().st_mtime_ns
    strict = _validate(admin_client, run_worker, teacher)
    assert tag_store.tags_path(wav).stat().st_mtime_ns == written  # read back, not tagged and stored again
    assert _record(chains["invented"]).run == strict and _record(chains["invented"]).label == "fail"


def test_a_run_that_does_not_succeed_leaves_the_record_alone(admin_client: Client, run_worker,
                                                            chains: dict[str, Chain]) -> None:
    teacher = chains["invented"].run
    strict = _validate(admin_client, run_worker, teacher)
    r = admin_client.post("/runs/validate/", {"source_run": teacher.pk, "validators": "sound-events",
                                              "judge_backend": "transformers", "policy": "score"})
    assert r.status_code == 302
    lenient = GenerationRun.objects.latest("pk")
    admin_client.post(f"/runs/{lenient.pk}/cancel/")
    run_worker("default")
    assert _record(chains["invented"]).run == strict and _record(chains["invented"]).label == "fail"


def test_filters_bulk_snapshots_and_dashboards_read_the_verdict_of_record(
        users, admin_client: Client, curator_client: Client, run_worker, media_root: Path,
        chains: dict[str, Chain]) -> None:
    teacher = chains["invented"].run
    _validate(admin_client, run_worker, teacher, policy="score")  # said pass to both: now history
    _validate(admin_client, run_worker, teacher)
    curator = users["curator"]
    question = chains["invented"].question
    claim(curator, question.pk)
    for chain in chains.values():
        chain.refresh_from_db()
        decide(curator, chain.pk, chain.version, "accept", question_id=question.pk)

    def filtered(**data: str) -> set[int]:
        form = ReviewFilterForm({"decision": "any", **data}, user=curator)
        assert form.is_valid(), form.errors
        return set(form.chains().values_list("pk", flat=True))

    invented, honest = chains["invented"].pk, chains["honest"].pk
    assert filtered(verdict="pass") == {honest}
    assert filtered(verdict="fail") == {invented}
    assert filtered(disagree="on") == {invented}  # accepted, yet the record says fail
    bulk = curator_client.get("/review/bulk/", {"action": "accept", "queue": "decision=any&verdict=pass"})
    assert "Accept 1 chain?" in bulk.content.decode()

    [agreement] = validator_agreement()  # one version: the record's, not the overruled history
    assert agreement.version == _record(chains["invented"]).validator_version
    assert {label: dict(row) for label, row in agreement.matrix.items()} == {"pass": {"accepted": 1},
                                                                          "fail": {"accepted": 1}}

    r = admin_client.post("/snapshots/new/", {"dataset": question.dataset.pk, "verdict_label": "pass"})
    assert r.status_code == 302, r.content.decode()[:2000]
    run_worker("default")
    snapshot = DatasetSnapshot.objects.latest("pk")
    assert snapshot.status == "succeeded", snapshot.error
    assert set(snapshot.items.values_list("chain_id", flat=True)) == {honest}
    assert [v["validator_version"] for v in snapshot.provenance["validators"]["verdicts"]] == \
        [_record(chains["honest"]).validator_version]
    card = (media_root / snapshot.export_dir / "README.md").read_text()
    assert "### Chain policy in force" in card and STRICT in card


@pytest.fixture(scope="module")
def tiny_judge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model("tiny-qwen2-audio", tmp_path_factory.mktemp("tiny") / "tiny-qwen2-audio")


def test_the_review_page_shows_the_policy_claims_with_spans_and_the_judges_opinion(
        admin_client: Client, curator_client: Client, run_worker, chains: dict[str, Chain], tiny_judge: Path) -> None:
    teacher = chains["invented"].run
    both = _validate(admin_client, run_worker, teacher, queue="gpu", validators="both", judge_model=str(tiny_judge))
    policy = chains["honest"].verdicts.get(validator="policy")
    judge = chains["honest"].verdicts.get(validator="lalm")
    assert judge.pk > policy.pk and not any(c["spans"] for c in judge.claims)  # the newest verdict has no spans
    spans = [c["spans"] for c in policy.claims]
    assert len(spans) == 2 and all(spans)
    n_claims = sum(len(c.verdicts.get(validator="policy").claims) for c in chains.values())
    question = chains["honest"].question
    for page in (f"/review/q/{question.pk}/", f"/questions/{question.pk}/"):
        html = curator_client.get(page).content.decode()
        for claim_spans in spans:
            assert f'data-spans="{json.dumps(claim_spans)}"' in html, page
        # the random tiny judge abstains on every claim; its opinion sits beside each one
        assert html.count('<span class="judge-opinion unverifiable"') == n_claims, page
        assert "lalm: uncertain" in html and "policy: pass" in html
    assert _record(chains["honest"]) == policy and policy.run == both
