"""A curator sees a chain's flag as a chip and filters the review queue by it, in a real Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.flags import LUCKY_GUESS, VISUAL_ONLY
from tests.browser.helpers import import_real_question
from tests.browser.helpers import login as _login
from tests.webapp.review_factories import add_chains, make_question
from webapp.curation.models import Chain

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_shows_a_flag_chip_and_filters_the_review_queue_by_flag(  # type: ignore[no-untyped-def]
        page, tmp_path: Path, real_videos: Path, users) -> None:
    question = import_real_question(tmp_path, real_videos)
    add_chains(question, 2)
    flagged = Chain.objects.filter(question=question).order_by("sample_index").first()
    Chain.objects.filter(pk=flagged.pk).update(flags=VISUAL_ONLY | LUCKY_GUESS)
    make_question(question.dataset, 2, chains=2, clip=question.clip)  # unflagged chains, same dataset

    _login(page, "bob", "pw-bob")
    page.goto("/review/")
    page.wait_for_selector("#queue-count")
    assert page.inner_text("#queue-count") == "4"
    page.select_option("#review-filters select[name=flag]", "visual_only")  # htmx swaps the table on change
    page.wait_for_function("document.getElementById('queue-count').textContent.trim() === '1'")
    assert "flag=visual_only" in page.url
    chip = page.locator("#queue-table .chain-flag.flag-visual_only")
    assert chip.count() == 1 and chip.inner_text() == "⚑ visual-only reasoning"

    page.click(f"#queue-table a[href^='/review/q/{question.pk}/']")
    page.wait_for_url(f"**/review/q/{question.pk}/**")
    card = page.locator(f"#chain-{flagged.pk}")
    assert card.locator(".chain-flag.flag-visual_only").is_visible()
    assert card.locator(".chain-flag.flag-lucky_guess").inner_text() == "⚑ lucky guess"
    assert page.locator(".chain-flag").count() == 2  # the other chain carries none
