"""Adjudication in a real Chromium under the app's CSP: an admin opens the queue from the navigation, sees both
curators' decisions on a tie, takes one curator's edit with a key, says why, rules with Ctrl+Enter, and the chain
leaves the queue.

The question has no real media (the player shows nothing): the page-wide checks visit it with a real clip."""

from __future__ import annotations

import pytest

from tests.browser.helpers import login
from tests.webapp.review_factories import TIE_EDIT, make_study, make_tie
from webapp.curation import review

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_admin_rules_on_a_tie_and_it_leaves_the_queue(strict_page, curators) -> None:  # type: ignore[no-untyped-def]
    page = strict_page
    tied, _ = make_tie(make_study(), 1, curators["bob"], curators["carol"])
    login(page, "alice", "pw-alice")
    page.get_by_role("link", name="Adjudication").click()
    page.wait_for_url("**/review/adjudication/")
    row = page.locator(f"#flagged-{tied.pk}")
    assert "bob: edit" in row.inner_text() and "carol: reject · hallucinated-sound" in row.inner_text()

    row.get_by_role("link", name="Rule →").click()
    page.wait_for_url(f"**/review/adjudication/{tied.pk}/")
    sides = page.locator("#curator-sides").inner_text()
    assert "bob: edit → accepted" in sides and "carol: reject → rejected" in sides
    assert "there is <b>no</b> horn" in sides  # carol's note, shown as text
    assert page.locator("#curator-sides ins").first.inner_text() == "then"  # bob's edit as a diff

    page.locator("#ruling-text").fill("")
    page.locator("#ruling-text").blur()  # the keys are the page's, not the text field's
    page.keyboard.press("1")  # take bob's edit: the text, the ruling, the cursor in the reason
    assert page.locator("#ruling-text").input_value() == TIE_EDIT
    assert page.locator("input[name=action][value=edit]").is_checked()
    page.keyboard.type("the engine is there; the horn is not, but the answer stands")
    page.keyboard.press("Control+Enter")
    page.wait_for_url("**/review/adjudication/")
    assert page.locator("#adjudication-empty").is_visible()
    assert "Ruled chain #1" in page.locator(".messages").inner_text()
    tied.refresh_from_db()
    assert tied.decision == "accepted" and review.chain_state(tied).text == TIE_EDIT
    assert page.csp_violations == []
