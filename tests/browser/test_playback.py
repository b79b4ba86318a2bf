"""A curator logs in and the clip plays and seeks in a real browser (Range requests through our media view)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.helpers import import_real_question
from tests.browser.helpers import login as _login  # noqa: E402
from webapp.catalog.models import Question

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def question(tmp_path: Path, real_videos: Path, users) -> Question:  # type: ignore[no-untyped-def]
    return import_real_question(tmp_path, real_videos)


def test_it_plays_and_seeks_the_clip(page, question: Question) -> None:  # type: ignore[no-untyped-def]
    ranges: list[str] = []
    page.on("request", lambda r: ranges.append(r.headers.get("range", "")) if "/files/media/" in r.url else None)
    _login(page, "bob", "pw-bob")
    page.click("nav >> text=Datasets")  # a curator lands on the review queue
    page.click("text=browser")
    page.click(f"text={question.text}")
    # `?.`: the player is null until the click's navigation lands (a throwing predicate fails at once)
    page.wait_for_function("document.getElementById('player')?.readyState >= 1")
    duration = page.evaluate("document.getElementById('player').duration")
    assert abs(duration - question.clip.duration) < 0.2

    page.evaluate("""() => new Promise(done => { const v = document.getElementById('player');
        v.addEventListener('seeked', done, {once: true}); v.currentTime = 6; })""")
    assert abs(page.evaluate("document.getElementById('player').currentTime") - 6) < 0.5

    page.evaluate("document.getElementById('player').muted = true")
    page.keyboard.press("Space")  # our player shortcut
    page.wait_for_function("document.getElementById('player').currentTime > 6.3")
    page.keyboard.press("Space")
    assert page.evaluate("document.getElementById('player').paused")

    box = page.locator("#waveform").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.25, box["y"] + box["height"] / 2)
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {duration * 0.25}) < 0.5")
    assert any(r.startswith("bytes=") for r in ranges), ranges


def test_it_sends_an_anonymous_visitor_to_login(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/")
    assert "/login/" in page.url


def test_it_plays_a_claims_evidence_span_when_clicked(page, question: Question) -> None:  # type: ignore[no-untyped-def]
    from webapp.curation.models import Chain, GenerationRun, Verdict

    text = "<think>A steady hum is heard from start to end.</think><answer>B</answer>"
    start = text.index("A steady hum")
    run = GenerationRun.objects.create(dataset=question.dataset, model="tiny")
    chain = Chain.objects.create(run=run, question=question, sample_index=0, text=text, parsed_answer=1,
                                 is_correct=True)
    Verdict.objects.create(chain=chain, validator="sound-events", validator_version="v1", label="pass", score=1.0,
                           claims=[{"text": "A steady hum", "verdict": "supported", "char_start": start,
                                    "char_end": start + 12, "spans": [[3.0, 4.0]]}])
    _login(page, "bob", "pw-bob")
    page.goto(f"/questions/{question.pk}/")
    page.wait_for_function("document.getElementById('player')?.readyState >= 1")
    page.evaluate("document.getElementById('player').muted = true")
    page.click(".chain mark.claim.supported")  # a claim in a chain, not the legend's sample
    page.wait_for_function("!document.getElementById('player').paused")
    page.wait_for_function("document.getElementById('player').paused", timeout=10000)  # stops at the span's end
    t = page.evaluate("document.getElementById('player').currentTime")
    assert 3.9 <= t <= 4.6, t


def test_it_runs_the_question_and_training_pages_under_the_content_security_policy(  # type: ignore[no-untyped-def]
    strict_page, question: Question
) -> None:
    from webapp.training.models import MetricPoint, TrainingRun

    run = TrainingRun.objects.create(stage="grpo", base_model="tiny", status="succeeded")
    MetricPoint.objects.bulk_create([MetricPoint(run=run, step=s, name="loss", value=1 / s) for s in (1, 2, 3)])
    _login(strict_page, "bob", "pw-bob")
    strict_page.goto(f"/questions/{question.pk}/")
    strict_page.wait_for_selector("#player")
    strict_page.goto(f"/training/{run.pk}/")
    strict_page.wait_for_selector("#chart-grid canvas")  # drawn by training.js + Chart.js, our own static files
    strict_page.goto("/training/compare/")
    strict_page.wait_for_timeout(500)
    assert strict_page.csp_violations == []
    assert "script-src 'self'" in strict_page.goto("/").headers["content-security-policy"]
