"""A curator reviews from the keyboard in a real Chromium: plays, seeks, accepts, auto-advances, edits, undoes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.browser.helpers import login as _login  # noqa: E402
from tests.webapp.review_factories import add_chains, make_question
from webapp.catalog.models import Question
from webapp.curation.models import Chain

pytestmark = pytest.mark.django_db(transaction=True)
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture
def two_questions(tmp_path: Path, real_videos: Path, users) -> list[Question]:  # type: ignore[no-untyped-def]
    name = sorted(real_videos.glob("*.mp4"))[0].stem
    rows = [{"id": 1, "video_name": name, "video_id": 1, "question_text": "What is making the sound?",
             "multi_choice": ["a dog", "a car", "a bell", "rain"], "answer": 1,
             "question_relation": "Both", "question_type": "Which"}]
    (tmp_path / "one.json").write_text(json.dumps(rows))
    call_command("import_avqa", str(tmp_path / "one.json"), videos=str(real_videos), dataset="browser",
                 process_now=True, stdout=io.StringIO())
    first = Question.objects.select_related("clip", "dataset").get()
    assert first.clip.peaks_path, "the clip was not processed"
    add_chains(first, 2)
    second = make_question(first.dataset, 2, chains=2, clip=first.clip)
    return [first, second]


def _decision(page, chain: Chain) -> str:  # type: ignore[no-untyped-def]
    return page.get_attribute(f"#chain-{chain.pk}", "data-decision")


def test_it_reviews_a_queue_from_the_keyboard(page, two_questions: list[Question]) -> None:  # type: ignore[no-untyped-def]
    first, second = two_questions
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    posts: list[bool] = []
    page.on("request", lambda r: posts.append(r.headers.get("hx-request") == "true") if r.method == "POST"
            and "/review/chains/" in r.url else None)
    _login(page, "bob", "pw-bob")
    page.goto("/review/next/")
    page.wait_for_url(f"**/review/q/{first.pk}/")
    page.wait_for_function("document.getElementById('player')?.readyState >= 1")
    page.wait_for_function("document.getElementById('review-root').dataset.waveReady === '1'")
    assert page.locator("#wave canvas, #wave div").count() > 0  # wavesurfer drew the server peaks

    # Play with space, then seek by clicking the waveform.
    page.evaluate("document.getElementById('player').muted = true")
    page.keyboard.press("Space")
    page.wait_for_function("document.getElementById('player').currentTime > 0.3")
    page.keyboard.press("Space")
    assert page.evaluate("document.getElementById('player').paused")
    box = page.locator("#wave").bounding_box()
    duration = page.evaluate("document.getElementById('player').duration")
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    page.wait_for_function(f"Math.abs(document.getElementById('player').currentTime - {duration * 0.5}) < 0.6")

    # The spectrogram ("s") draws frames the server computed: the wav itself is never fetched and decoded here.
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url))
    with page.expect_response(f"**/review/q/{first.pk}/spectrogram.json") as spectrogram:
        page.keyboard.press("s")
    assert spectrogram.value.status == 200 and len(spectrogram.value.json()) > 10
    page.locator("#spectrogram canvas").first.wait_for(state="attached")
    assert page.get_attribute("#spectrogram-toggle", "aria-pressed") == "true"
    assert not [u for u in fetched if u.endswith(".wav")], fetched
    page.keyboard.press("s")

    # Help overlay, then accept both chains with "a": the second accept auto-advances to the next question.
    page.keyboard.press("?")
    assert page.is_visible("#review-help")
    page.keyboard.press("Escape")
    chains = list(first.chains.order_by("sample_index"))
    page.keyboard.press("a")
    page.wait_for_function(f"document.getElementById('chain-{chains[0].pk}').dataset.decision === 'accepted'")
    page.wait_for_selector(f"#chain-{chains[1].pk}.selected")
    page.keyboard.press("a")
    page.wait_for_url(f"**/review/q/{second.pk}/")

    # Edit the first chain of the second question with "e" and Ctrl+Enter; then undo it with "u".
    target = second.chains.order_by("sample_index").first()
    page.wait_for_selector(f"#chain-{target.pk}.selected")
    page.keyboard.press("e")
    editor = page.locator(f"#chain-{target.pk} textarea")
    editor.fill("<think>I hear a bell ring twice.</think><answer>C</answer>")
    editor.press("Control+Enter")
    page.wait_for_function(f"document.getElementById('chain-{target.pk}').dataset.decision === 'accepted'")
    assert "edited" in page.inner_text(f"#chain-{target.pk} header")
    assert "bell ring twice" in page.inner_text(f"#chain-{target.pk} .text")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "review_item.png"), full_page=True)
    page.keyboard.press("u")
    page.wait_for_function(f"document.getElementById('chain-{target.pk}').dataset.decision === 'pending'")
    assert "edited" not in page.inner_text(f"#chain-{target.pk} header")
    assert "review-history" in page.content() and "Undo" in page.inner_text("#review-history")

    target.refresh_from_db()
    assert (target.decision, target.version) == ("pending", 2)
    assert set(Chain.objects.filter(question=first).values_list("decision", flat=True)) == {"accepted"}
    assert not errors, errors
    assert posts == [True] * 4, posts  # every decision went through htmx: the video never reloaded mid-question
