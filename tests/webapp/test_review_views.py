"""Review pages over HTTP: queue, next item, decisions with and without htmx, stale writes, filters, bulk."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.http import QueryDict
from django.test import Client

from tests.webapp.review_factories import make_dataset, make_question
from webapp.curation.models import BulkAction, Chain, Lease, Review
from webapp.curation.review.forms import DecisionForm, ReviewFilterForm, queue_filter

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def questions(users):  # type: ignore[no-untyped-def]
    ds = make_dataset()
    return [make_question(ds, 1), make_question(ds, 2, split="val", question_type="Come From")]


def test_it_requires_the_curator_role(nobody_client: Client, questions) -> None:  # type: ignore[no-untyped-def]
    for url in ("/review/", "/review/next/", f"/review/q/{questions[0].pk}/", "/review/dashboard/"):
        assert nobody_client.get(url).status_code == 403
    assert Client().get("/review/").status_code == 302  # anonymous: to the login page


def test_it_serves_the_next_item_with_its_chains_escaped(curator_client: Client, questions) -> None:  # type: ignore[no-untyped-def]
    evil = "<script>alert(1)</script><answer>B</answer>"
    Chain.objects.filter(question=questions[0], sample_index=0).update(text=evil)
    response = curator_client.get("/review/next/")
    assert response.status_code == 302 and response["Location"] == f"/review/q/{questions[0].pk}/"
    page = curator_client.get(response["Location"]).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    assert 'id="player"' in page and 'data-spans="[[1.5, 3.0]]"' in page and "Accept (a)" in page


def test_it_decides_without_javascript_and_auto_advances(curator_client: Client, questions) -> None:  # type: ignore[no-untyped-def]
    first, second = questions[0].chains.order_by("sample_index")
    response = curator_client.post(f"/review/chains/{first.pk}/decide/", {"action": "accept", "version": 0})
    assert response.status_code == 302 and response["Location"] == f"/review/q/{questions[0].pk}/"
    response = curator_client.post(f"/review/chains/{second.pk}/decide/",
                                   {"action": "reject", "version": 0, "reason": "hallucinated-sound"})
    assert response["Location"] == f"/review/next/?after={questions[0].pk}"
    assert curator_client.get(response["Location"])["Location"] == f"/review/q/{questions[1].pk}/"


def test_it_swaps_the_panel_with_htmx_and_redirects_when_done(curator_client: Client, questions) -> None:  # type: ignore[no-untyped-def]
    first, second = questions[0].chains.order_by("sample_index")
    response = curator_client.post(f"/review/chains/{first.pk}/decide/", {"action": "flag", "version": 0}, **HX)
    body = response.content.decode()
    assert response.status_code == 200 and 'id="review-panel"' in body
    assert "<html" not in body and "Flag" in body
    response = curator_client.post(f"/review/chains/{second.pk}/decide/", {"action": "accept", "version": 0}, **HX)
    assert response.status_code == 204 and response["HX-Redirect"] == f"/review/next/?after={questions[0].pk}"


def test_it_refuses_a_stale_write_over_http(curator_client: Client, questions) -> None:  # type: ignore[no-untyped-def]
    chain = questions[0].chains.first()
    curator_client.post(f"/review/chains/{chain.pk}/decide/", {"action": "accept", "version": 0})
    response = curator_client.post(f"/review/chains/{chain.pk}/decide/",
                                   {"action": "reject", "version": 0, "reason": "other", "note": "x"}, **HX)
    assert response.status_code == 409
    assert "changed by bob" in response.content.decode() and "your decision was not saved" in response.content.decode()
    assert Review.objects.filter(chain=chain).count() == 1


def test_it_keeps_a_refused_edit_open_with_its_text(curator_client: Client, questions) -> None:  # type: ignore[no-untyped-def]
    chain = questions[0].chains.first()
    response = curator_client.post(f"/review/chains/{chain.pk}/decide/",
                                   {"action": "edit", "version": 0, "text": "my <b>draft</b> without answer"}, **HX)
    body = response.content.decode()
    assert response.status_code == 400 and "must end in &lt;answer&gt;" in body
    assert "my &lt;b&gt;draft&lt;/b&gt; without answer</textarea>" in body


def test_it_undoes_the_previous_item_after_auto_advance(curator_client: Client, questions) -> None:  # type: ignore[no-untyped-def]
    first, second = questions[0].chains.order_by("sample_index")
    curator_client.post(f"/review/chains/{first.pk}/decide/", {"action": "accept", "version": 0})
    curator_client.post(f"/review/chains/{second.pk}/decide/", {"action": "accept", "version": 0})
    page = curator_client.get(f"/review/q/{questions[1].pk}/").content.decode()
    assert f'action="/review/chains/{second.pk}/undo/"' in page and "on the previous question" in page
    response = curator_client.post(f"/review/chains/{second.pk}/undo/", {"version": 1}, **HX,
                                   HTTP_HX_CURRENT_URL=f"http://testserver/review/q/{questions[1].pk}/")
    assert response.status_code == 204 and response["HX-Redirect"] == f"/review/q/{questions[0].pk}/"
    second.refresh_from_db()
    assert second.decision == "pending"


def test_it_marks_an_edited_chains_verdicts_as_not_validated_since_the_edit(curator_client: Client, questions) -> None:  # type: ignore[no-untyped-def]
    edited, untouched = questions[0].chains.order_by("sample_index")
    curator_client.post(f"/review/chains/{edited.pk}/decide/",
                        {"action": "edit", "version": 0, "text": "<think>a bell rings</think><answer>C</answer>"})
    page = curator_client.get(f"/review/q/{questions[0].pk}/").content.decode()
    edited_card = page[page.index(f'id="chain-{edited.pk}"'):page.index(f'id="chain-{untouched.pk}"')]
    untouched_card = page[page.index(f'id="chain-{untouched.pk}"'):]
    assert 'class="verdict pass stale" title="judged the text before the edit · verdict of record' in edited_card
    assert "lalm: pass · not validated since edit</span>" in edited_card
    assert "not validated since edit" not in untouched_card
    curator_client.post(f"/review/chains/{edited.pk}/undo/", {"version": 1})  # the teacher's text is back
    page = curator_client.get(f"/review/q/{questions[0].pk}/").content.decode()
    assert "not validated since edit" not in page and "lalm: pass</span>" in page


def test_it_shows_history_on_the_item_page(curator_client: Client, questions) -> None:  # type: ignore[no-untyped-def]
    chain = questions[0].chains.first()
    curator_client.post(f"/review/chains/{chain.pk}/decide/",
                        {"action": "edit", "version": 0, "text": "<think>bell</think><answer>C</answer>"})
    page = curator_client.get(f"/review/q/{questions[0].pk}/").content.decode()
    history = page[page.index('id="review-history"'):]
    assert "pending → accepted" in history and "&lt;answer&gt;C&lt;/answer&gt;" in history and "bob" in history


@pytest.mark.parametrize("query", ["decision=nope", "split=moon", "dataset=missing", "correct=maybe",
                                   "curator=ghost", "page=0", "after=abc"])
def test_it_answers_bad_filters_with_400(curator_client: Client, questions, query: str) -> None:  # type: ignore[no-untyped-def]
    url = "/review/next/" if query.startswith("after") else "/review/"
    assert curator_client.get(f"{url}?{query}").status_code == 400


def test_an_unfiltered_page_reads_the_queue_as_the_full_form_does(users) -> None:  # type: ignore[no-untyped-def]
    """Next item, item page and decisions take a copy of one validated empty filter (forms.queue_filter): the same
    queue, its own curator, and any filter given still validated by a form of its own."""
    bob, alice = users["curator"], users["admin"]
    full = ReviewFilterForm(QueryDict(), user=bob)
    assert full.is_valid()
    mine, theirs = queue_filter(QueryDict("after=3"), bob), queue_filter(QueryDict(), alice)
    assert mine.is_valid() and theirs.is_valid() and (mine.user, theirs.user) == (bob, alice)
    assert str(mine.chains().query) == str(full.chains().query) and mine.query() == ""
    bad = queue_filter(QueryDict("decision=bogus"), bob)
    assert not bad.is_valid() and "decision" in bad.errors
    assert queue_filter(QueryDict("split=train&page=2"), bob).query() == "split=train"


def test_it_filters_the_queue(curator_client: Client, questions, users) -> None:  # type: ignore[no-untyped-def]
    def count(query: str) -> int:
        return curator_client.get(f"/review/?{query}").context["page"].paginator.count

    assert count("") == 4
    assert count("split=val") == 2 and count("question_type=Come+From") == 2
    assert count("verdict=fail") == 2 and count("verdict=none") == 0 and count("q=chain+1") == 2
    chain = questions[0].chains.first()
    curator_client.post(f"/review/chains/{chain.pk}/decide/", {"action": "accept", "version": 0})
    assert count("decision=accepted") == 1 and count("curator=bob&decision=any") == 1
    assert count("disagree=on") == 0 and count("decision=any&correct=yes") == 4


def test_it_confirms_the_count_then_applies_bulk_to_the_whole_query(curator_client: Client, questions) -> None:  # type: ignore[no-untyped-def]
    confirm = curator_client.get("/review/bulk/", {"action": "accept", "queue": "verdict=pass"})
    assert confirm.status_code == 200 and confirm.context["count"] == 2
    stale = curator_client.post("/review/bulk/", {"action": "accept", "queue": "verdict=pass", "confirm": 5})
    assert stale.status_code == 409 and "changed" in stale.content.decode()
    done = curator_client.post("/review/bulk/", {"action": "accept", "queue": "verdict=pass", "confirm": 2})
    run = BulkAction.objects.get()
    assert done["Location"] == f"/review/bulk/{run.pk}/"
    assert (run.status, run.applied_count) == ("succeeded", 2)
    assert Review.objects.filter(action="accept").count() == 2


def test_it_runs_a_large_bulk_action_as_a_job(curator_client: Client, users, run_worker, monkeypatch,  # type: ignore[no-untyped-def]
                                              django_capture_on_commit_callbacks) -> None:
    from webapp.curation.review import bulk

    monkeypatch.setattr(bulk, "BULK_INLINE_MAX", 3)
    ds = make_dataset()
    for n in range(3):
        make_question(ds, n, chains=2)
    with django_capture_on_commit_callbacks(execute=True):
        curator_client.post("/review/bulk/", {"action": "reject", "reason": "other", "note": "bulk",
                                              "queue": "dataset=rev", "confirm": 6})
    run = BulkAction.objects.get()
    assert run.status == "queued" and run.rq_job_id == f"bulk-{run.pk}-a1"
    run_worker("default")
    run.refresh_from_db()
    assert (run.status, run.applied_count) == ("succeeded", 6)
    assert set(Chain.objects.values_list("decision", flat=True)) == {"rejected"}


def test_it_draws_the_dashboard(curator_client: Client, questions, users: dict[str, User]) -> None:  # type: ignore[no-untyped-def]
    chain = questions[0].chains.order_by("sample_index").last()  # validator said fail
    curator_client.post(f"/review/chains/{chain.pk}/decide/", {"action": "accept", "version": 0})
    page = curator_client.get("/review/dashboard/").content.decode()
    assert 'id="chart-datasets"' in page and "chart.umd.min.js" in page and 'id="dashboard-data"' in page
    assert "?disagree=on&amp;validator_version=v1" in page and "1 disagreement" in page
    assert "No chain has been decided by two curators yet." in page


def test_it_counts_the_days_as_the_totals_beside_them(curator_client: Client, questions) -> None:  # type: ignore[no-untyped-def]
    """An undo that puts a chain back to accepted is an undo, not a second acceptance, on every dashboard figure."""
    chain = questions[0].chains.order_by("sample_index").first()
    curator_client.post(f"/review/chains/{chain.pk}/decide/", {"action": "accept", "version": 0})
    curator_client.post(f"/review/chains/{chain.pk}/decide/",
                        {"action": "reject", "version": 1, "reason": "other", "note": "no"})
    curator_client.post(f"/review/chains/{chain.pk}/undo/", {"version": 2})
    chain.refresh_from_db()
    assert chain.decision == "accepted"
    page = curator_client.get("/review/dashboard/")
    (day,), (curator,) = page.context["chart_data"]["days"], page.context["chart_data"]["curators"]
    counts = {k: day[k] for k in ("total", "accept", "reject", "undo")}
    assert counts == {"total": 3, "accept": 1, "reject": 1, "undo": 1}
    assert {k: day[k] for k in curator if k != "curator"} == {k: v for k, v in curator.items() if k != "curator"}
    assert page.context["by_dataset"][0]["accepted"] == day["accept"]
    assert ("<tfoot><tr><th>30 days</th><th>3</th><th>1</th><th>1</th><th>0</th><th>0</th><th>1</th><th>0</th></tr>"
            "</tfoot>") in page.content.decode()  # the last column: admins' rulings (adjudication)


def test_it_charts_agreement_between_curators_on_the_dashboard(curator_client: Client, questions,
                                                              users: dict[str, User]) -> None:  # type: ignore[no-untyped-def]
    carol = User.objects.create_user("carol", password="pw-carol")
    carol.groups.add(users["curator"].groups.first())
    chain = questions[0].chains.order_by("sample_index").first()
    curator_client.post(f"/review/chains/{chain.pk}/decide/", {"action": "accept", "version": 0})
    Lease.objects.all().delete()
    other = Client()
    other.force_login(carol)
    other.post(f"/review/chains/{chain.pk}/decide/", {"action": "reject", "version": 1, "reason": "other",
                                                      "note": "<b>no</b>"})
    page = curator_client.get("/review/dashboard/").content.decode()
    assert 'id="chart-pairs"' in page and "<td>bob · carol</td><td>1</td><td>0.000</td>" in page
    assert 'id="fleiss-kappa">-1.000</b>' in page and "over 1 chain decided by two or more curators" in page


def test_it_numbers_chains_in_notices_and_history_as_on_their_cards(curator_client: Client, questions) -> None:  # type: ignore[no-untyped-def]
    first, second = questions[0].chains.order_by("sample_index")  # sample_index 0 and 1: cards 1 and 2
    response = curator_client.post(f"/review/chains/{first.pk}/decide/", {"action": "flag", "version": 0}, **HX)
    body = response.content.decode()
    assert "Chain #1: flag → flagged." in body and "Chain #0" not in body
    assert f'id="chain-{first.pk}" data-index="1"' in body and "<td>#1</td>" in body
    curator_client.post(f"/review/chains/{second.pk}/decide/", {"action": "accept", "version": 0}, **HX)
    response = curator_client.post(f"/review/chains/{second.pk}/decide/", {"action": "flag", "version": 0}, **HX)
    assert response.status_code == 409 and "Chain #2 changed by bob" in response.content.decode()


def test_it_goes_back_to_the_previously_reviewed_question(curator_client: Client, questions) -> None:  # type: ignore[no-untyped-def]
    first = questions[0].chains.order_by("sample_index").first()
    response = curator_client.get(f"/review/q/{questions[1].pk}/previous/?split=val")
    assert response.status_code == 302 and response["Location"] == f"/review/q/{questions[1].pk}/?split=val"
    curator_client.post(f"/review/chains/{first.pk}/decide/", {"action": "accept", "version": 0})
    page = curator_client.get(f"/review/q/{questions[1].pk}/").content.decode()
    assert f'id="prev-link" href="/review/q/{questions[1].pk}/previous/"' in page
    response = curator_client.get(f"/review/q/{questions[1].pk}/previous/")
    assert response["Location"] == f"/review/q/{questions[0].pk}/"
    assert curator_client.get(f"/review/q/{questions[1].pk}/previous/?split=nope").status_code == 400


def test_it_serves_the_spectrogram_computed_on_the_server(curator_client: Client, questions, media_root) -> None:  # type: ignore[no-untyped-def]
    import wave

    import numpy as np

    rate = 16000
    t = np.arange(rate) / rate  # one second of a 1 kHz tone
    (media_root / "derived").mkdir(exist_ok=True)
    with wave.open(str(media_root / "derived" / "tone.wav"), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(rate)
        out.writeframes((np.sin(2 * np.pi * 1000 * t) * 20000).astype("<i2").tobytes())
    clip = questions[0].clip
    clip.audio_path = "derived/tone.wav"
    clip.save(update_fields=["audio_path"])
    page = curator_client.get(f"/review/q/{questions[0].pk}/").content.decode()
    assert f'data-frequencies-url="/review/q/{questions[0].pk}/spectrogram.json"' in page
    response = curator_client.get(f"/review/q/{questions[0].pk}/spectrogram.json")
    rows = response.json()
    assert response.status_code == 200 and 50 <= len(rows) <= 600 and {len(r) for r in rows} == {128}
    assert all(0 <= v <= 255 for r in rows for v in r)
    loudest = max(range(128), key=lambda b: rows[len(rows) // 2][b])
    assert loudest == 16  # 1 kHz of 0-8 kHz on 128 bins
    assert curator_client.get(f"/review/q/{questions[1].pk}/spectrogram.json").status_code == 404  # no audio


def test_it_offers_no_undo_on_a_question_another_curator_now_holds(curator_client: Client, questions, users) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from django.utils import timezone

    from webapp.curation import review

    chain = questions[0].chains.order_by("sample_index").first()
    curator_client.post(f"/review/chains/{chain.pk}/decide/", {"action": "accept", "version": 0})
    assert 'id="undo-form"' in curator_client.get(f"/review/q/{questions[0].pk}/").content.decode()
    Lease.objects.filter(question=questions[0]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert review.try_claim(users["admin"], questions[0].pk)  # alice takes the question over
    page = curator_client.get(f"/review/q/{questions[0].pk}/").content.decode()
    assert "alice is reviewing" in page
    assert 'id="undo-form"' not in page and "Accept (a)" not in page  # read-only: nothing that would be refused


def test_it_lists_a_runs_model_by_name_and_k_with_the_full_path_on_hover(curator_client: Client) -> None:
    from webapp.curation.models import GenerationRun

    path = "/srv/models/checkpoints/2026-11-30/experiments/long-prefix/Qwen2.5-Omni-7B-sft-step-1200/"
    run = GenerationRun.objects.create(dataset=make_dataset(), model=path, samples_per_question=8)
    page = curator_client.get("/runs/").content.decode()
    assert f'<td title="{path}">Qwen2.5-Omni-7B-sft-step-1200 · K=8</td>' in page
    assert GenerationRun(model="Qwen/Qwen2-Audio-7B").model_name == "Qwen2-Audio-7B" and run.model_name


def _teacher_run_with(dataset, drops: list[str]):  # type: ignore[no-untyped-def]
    from webapp.curation.models import GenerationRun

    run = GenerationRun.objects.create(dataset=dataset, status="succeeded")
    question = make_question(dataset, 1, chains=0, run=run)
    for k, reason in enumerate(drops):
        Chain.objects.create(run=run, question=question, sample_index=k, text="t", kept=not reason, drop_reason=reason)
    return run, question


def test_it_says_what_a_teacher_run_kept_and_why_and_offers_to_validate_it(admin_client: Client) -> None:
    run, _ = _teacher_run_with(make_dataset(), ["no_answer", "", "no_answer", "wrong_answer"])
    fragment = admin_client.get(f"/runs/{run.pk}/", **HX).content.decode()  # what the polling swaps in
    assert "<strong>1 of 4 kept: 2 had no answer, 1 wrong answer</strong>" in fragment
    assert 'id="cta-validate"' in fragment and ">Validate it</a>" in fragment


def test_it_counts_a_validation_runs_verdicts_in_words_over_all_its_attempts(admin_client: Client) -> None:
    from webapp.curation.models import GenerationRun, Verdict

    dataset = make_dataset()
    source, question = _teacher_run_with(dataset, ["", "", "", ""])
    run = GenerationRun.objects.create(dataset=dataset, kind="validation", source_run=source, status="succeeded",
                                       config={"validators": "both"}, attempt=2, progress_metrics={"verdicts": {}})
    labels = ["pass", "pass", "fail", "uncertain"]
    for chain, label in zip(source.chains.order_by("sample_index"), labels, strict=True):
        Verdict.objects.create(chain=chain, run=run, validator="policy", validator_version="p1", label=label)
        Verdict.objects.create(chain=chain, run=run, validator="lalm", validator_version="j1", label="fail")
    fragment = admin_client.get(f"/runs/{run.pk}/", **HX).content.decode()
    assert 'Verdicts: <strong>2 pass, 1 fail, 1 unsure</strong>' in fragment  # the deciding verdicts only
    assert 'id="cta-snapshot"' in fragment and ">Snapshot it</a>" in fragment


def test_the_next_step_of_a_snapshot_and_a_training_run_comes_with_the_polled_status(admin_client: Client) -> None:
    """The status fragment the page polls carries the call to action, so it appears when the run finishes."""
    from webapp.training.models import DatasetSnapshot, TrainingRun

    snapshot = DatasetSnapshot.objects.create(dataset=make_dataset(), version=1, status="succeeded")
    run = TrainingRun.objects.create(stage="sft", base_model="/models/student", snapshot=snapshot,
                                     status="succeeded")
    fragment = admin_client.get(f"/snapshots/{snapshot.pk}/", **HX).content.decode()
    assert 'id="cta-train"' in fragment and ">Train on it</a>" in fragment
    fragment = admin_client.get(f"/training/{run.pk}/", **HX).content.decode()
    assert f'href="/training/new/?stage=eval&amp;parent={run.pk}">Evaluate it</a>' in fragment
    assert "<h1>" not in fragment  # the fragment, not the page


def test_a_launch_form_says_it_is_working_once_submitted(admin_client: Client) -> None:
    page = admin_client.get("/runs/new/").content.decode()
    assert '<form method="post" action="" data-launch>' in page and 'data-busy="Launch: working…"' in page
    assert '<script src="/static/js/launch.js" defer></script>' in page


def test_the_run_page_presenters_pass_their_doctests() -> None:
    import doctest

    from webapp.curation import presenters

    assert doctest.testmod(presenters).failed == 0


def test_decision_forms_share_their_fields_and_nothing_else() -> None:
    """The fields are not copied per form (forms.SharedFields); errors and cleaned data stay each form's own."""
    refused = DecisionForm(QueryDict("action=reject&version=1"))
    assert not refused.is_valid() and "Choose a reason to reject." in refused.errors["reason"]
    accepted = DecisionForm(QueryDict("action=accept&version=2&note=fine"))
    assert accepted.is_valid(), accepted.errors
    assert accepted.cleaned_data["version"] == 2 and not accepted.errors and "reason" in refused.errors
    assert accepted.fields is refused.fields is DecisionForm.base_fields
    bad = DecisionForm(QueryDict("action=burn&version=-1"))
    assert not bad.is_valid() and set(bad.errors) == {"action", "version"}
