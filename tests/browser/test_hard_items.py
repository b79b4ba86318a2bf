"""Hard items in a real Chromium: from an evaluation's page, one click sends its misses to review; the curator opens
one from the filtered queue and reads what the student answered beside the chains."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.helpers import login as _login
from tests.webapp.review_factories import make_dataset, make_question
from tests.webapp.test_hard_items import evaluation, predictions

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_curator_sends_misses_to_review_and_reads_the_students_answer(page, media_root: Path,
                                                                         users) -> None:  # type: ignore[no-untyped-def]
    ds = make_dataset()
    questions = [make_question(ds, n, split="val") for n in (1, 2, 3)]
    run = evaluation(media_root, ds.pk, "val", predictions(questions))
    _login(page, "bob", "pw-bob")
    page.goto(f"/training/{run.pk}/")
    page.click("text=Send the misses to review")
    page.wait_for_url(f"**/review/?hard={run.pk}&decision=any")
    assert "Sent to review: 1 wrong and 1 wrong only with the audio" in page.inner_text("body")
    page.locator(f"#queue-table a[href^='/review/q/{questions[2].pk}/']").first.click()
    page.wait_for_url(f"**/review/q/{questions[2].pk}/?*")
    page.click("#student-misses summary")
    assert "an <b>engine</b>" in page.inner_text("#student-misses")  # shown as text, not markup
    assert page.locator("#student-misses b", has_text="engine").count() == 0
