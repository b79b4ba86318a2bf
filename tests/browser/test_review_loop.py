"""The review loop in a real Chromium, key by key: the selection a curator sees is the one the keys act on, reject
works without the mouse, a refused write stays with its chain, a read-only page has no live buttons, `k` walks back.

Questions here have no real media (the player shows nothing): these tests are about the decisions, not playback.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.browser.helpers import login
from tests.webapp.review_factories import make_dataset, make_question
from webapp.catalog.models import Question
from webapp.curation import review
from webapp.curation.models import Chain, Lease

pytestmark = pytest.mark.django_db(transaction=True)

# Counts htmx's settle events: a swapped panel is final only once htmx has settled its attributes.
COUNT_SETTLES = (
    "document.body.addEventListener('htmx:afterSettle', function () { window.settles = (window.settles || 0) + 1; })"
)


@pytest.fixture
def questions(users) -> list[Question]:  # type: ignore[no-untyped-def]
    dataset = make_dataset("loop")
    return [make_question(dataset, n, chains=3) for n in (1, 2, 3)]


def _cards(question: Question) -> list[Chain]:
    return list(question.chains.order_by("sample_index"))


def _open_first(page, question: Question) -> None:  # type: ignore[no-untyped-def]
    login(page, "bob", "pw-bob")
    page.goto("/review/next/")
    page.wait_for_url(f"**/review/q/{question.pk}/")
    page.evaluate(COUNT_SETTLES)


def _press(page, key: str) -> None:  # type: ignore[no-untyped-def]
    """Press a key that writes, and wait until htmx has swapped and settled the panel it gets back."""
    before = page.evaluate("window.settles || 0")
    page.keyboard.press(key)
    page.wait_for_function(f"(window.settles || 0) > {before}")


def _selected(page) -> list[str]:  # type: ignore[no-untyped-def]
    """The ids of the cards drawn as selected (with a visible outline)."""
    return page.evaluate(
        "Array.from(document.querySelectorAll('.review-chain')).filter(function (c) {"
        " return getComputedStyle(c).outlineStyle !== 'none'; }).map(function (c) { return c.id; })"
    )


def _decisions(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.eval_on_selector_all(".review-chain", "cs => cs.map(c => c.dataset.decision)")


def test_it_keeps_the_selected_chain_visible_after_every_decision(page, questions: list[Question]) -> None:  # type: ignore[no-untyped-def]
    c1, c2, c3 = _cards(questions[0])
    _open_first(page, questions[0])
    assert _selected(page) == [f"chain-{c1.pk}"]
    _press(page, "a")
    assert _decisions(page) == ["accepted", "pending", "pending"]
    assert _selected(page) == [f"chain-{c2.pk}"]
    _press(page, "u")  # undo reselects the undone chain
    assert _decisions(page) == ["pending", "pending", "pending"]
    assert _selected(page) == [f"chain-{c1.pk}"]
    _press(page, "a")  # ...and the next accept acts on it, then moves on by one chain, not two
    assert _decisions(page) == ["accepted", "pending", "pending"]
    assert _selected(page) == [f"chain-{c2.pk}"]
    page.keyboard.press("3")
    assert _selected(page) == [f"chain-{c3.pk}"]
    _press(page, "f")  # the next pending chain, wrapping round
    assert _decisions(page) == ["accepted", "pending", "flagged"]
    assert _selected(page) == [f"chain-{c2.pk}"]


def _reason(page, chain: Chain) -> str | None:  # type: ignore[no-untyped-def]
    return page.evaluate(f"new FormData(document.querySelector('#chain-{chain.pk} .act-reject form')).get('reason')")


def test_it_rejects_from_the_keyboard_with_a_reason_picked_by_digit(page, questions: list[Question]) -> None:  # type: ignore[no-untyped-def]
    c1, c2, c3 = _cards(questions[0])
    _open_first(page, questions[0])
    page.keyboard.press("x")
    assert page.evaluate(f"document.querySelector('#chain-{c1.pk} .act-reject').open")
    assert _reason(page, c1) in (None, "")  # no reason preselected
    assert page.evaluate("document.activeElement.tagName") not in ("SELECT", "INPUT", "TEXTAREA")
    page.keyboard.press("?")  # other keys still work while the form is open
    assert page.is_visible("#review-help")
    page.keyboard.press("Escape")
    assert not page.is_visible("#review-help")
    page.keyboard.press("x")
    page.keyboard.press("4")  # while the form is open, a digit picks a reason, not a chain
    assert _reason(page, c1) == review.REJECT_REASONS[3][0]
    assert _selected(page) == [f"chain-{c1.pk}"]
    _press(page, "Enter")
    assert _decisions(page) == ["rejected", "pending", "pending"]
    c1.refresh_from_db()
    assert c1.decision == "rejected" and c1.reviews.get().reason == review.REJECT_REASONS[3][0]
    assert _selected(page) == [f"chain-{c2.pk}"]
    page.keyboard.press("3")  # the form is gone: digits pick chains again
    assert _selected(page) == [f"chain-{c3.pk}"]


def test_it_shows_a_refused_write_next_to_its_chain(page, questions: list[Question], users) -> None:  # type: ignore[no-untyped-def]
    c1, c2, _ = _cards(questions[0])
    _open_first(page, questions[0])
    # Bob's lease runs out and Alice takes the question: Bob's next decision is refused (409).
    Lease.objects.filter(question=questions[0]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert review.try_claim(users["admin"], questions[0].pk)
    _press(page, "a")
    assert _decisions(page) == ["pending", "pending", "pending"]
    assert "alice is reviewing" in page.inner_text(f"#chain-{c1.pk} .chain-error")
    assert page.locator("details.act-edit[open]").count() == 0  # never an empty editor
    assert _selected(page) == [f"chain-{c1.pk}"]


def test_it_refuses_an_invalid_reject_next_to_its_chain(page, questions: list[Question]) -> None:  # type: ignore[no-untyped-def]
    c1, _, _ = _cards(questions[0])
    _open_first(page, questions[0])
    page.keyboard.press("x")
    page.keyboard.press("6")  # "other" needs a note: refused (400)
    _press(page, "Enter")
    assert _decisions(page) == ["pending", "pending", "pending"]
    assert "Say why in the note" in page.inner_text(f"#chain-{c1.pk} .chain-error")
    assert page.locator("details.act-edit[open]").count() == 0
    assert _reason(page, c1) == "other"  # the reject form is open again as it was sent, to add the note
    assert _selected(page) == [f"chain-{c1.pk}"]


def test_it_shows_no_live_decision_buttons_without_the_lease(page, questions: list[Question], users) -> None:  # type: ignore[no-untyped-def]
    assert review.try_claim(users["admin"], questions[0].pk)
    login(page, "bob", "pw-bob")
    page.goto(f"/review/q/{questions[0].pk}/")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    assert "alice is reviewing" in page.inner_text("#lease-banner")
    assert page.locator("#review-panel .review-chain button:enabled, #review-panel .review-chain summary").count() == 0
    page.keyboard.press("a")
    page.keyboard.press("x")
    page.keyboard.press("Enter")
    assert posts == [] and page.locator("details[open]").count() == 0


def test_it_goes_back_with_k_in_this_sessions_order(page, questions: list[Question]) -> None:  # type: ignore[no-untyped-def]
    q1, q2, q3 = questions
    _open_first(page, q1)
    for question in (q2, q3):  # j skips on without deciding anything
        page.keyboard.press("j")
        page.wait_for_url(f"**/review/q/{question.pk}/")
    for question in (q2, q1):
        page.keyboard.press("k")
        page.wait_for_url(f"**/review/q/{question.pk}/")
    page.keyboard.press("j")  # and forward again in queue order
    page.wait_for_url(f"**/review/q/{q2.pk}/")


def test_it_carries_the_queue_filters_into_start_reviewing(page, questions: list[Question]) -> None:  # type: ignore[no-untyped-def]
    other = make_question(make_dataset("other"), 9, chains=2)
    login(page, "bob", "pw-bob")
    page.goto("/review/")
    with page.expect_response("**/review/?*dataset=other*"):
        page.select_option("#review-filters select[name=dataset]", "other")
    page.wait_for_function("document.getElementById('queue-count').textContent.trim() === '2'")
    page.click("#start-review")
    page.wait_for_url(f"**/review/q/{other.pk}/?dataset=other")


def test_it_reviews_under_the_apps_strict_csp(strict_page, questions: list[Question]) -> None:  # type: ignore[no-untyped-def]
    c1, c2, _ = _cards(questions[0])
    login(strict_page, "bob", "pw-bob")
    strict_page.goto("/review/next/")
    strict_page.wait_for_url(f"**/review/q/{questions[0].pk}/")
    strict_page.keyboard.press("x")
    strict_page.keyboard.press("4")
    strict_page.keyboard.press("Enter")
    strict_page.wait_for_selector(f"#chain-{c1.pk}[data-decision=rejected]")
    strict_page.wait_for_selector(f"#chain-{c2.pk}.selected")
    strict_page.keyboard.press("?")
    strict_page.wait_for_selector("#review-help", state="visible")
    assert strict_page.csp_violations == []


def test_it_rejects_without_javascript(browser, live_server, questions: list[Question]) -> None:  # type: ignore[no-untyped-def]
    c1, c2, _ = _cards(questions[0])
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        pg = context.new_page()
        login(pg, "bob", "pw-bob")
        pg.goto(f"/review/q/{questions[0].pk}/")
        card = f"#chain-{c1.pk}"
        pg.click(f"{card} .act-reject summary")  # <details> opens natively
        pg.click(f"{card} .act-reject button[type=submit]")  # no reason chosen: the browser asks for one
        assert pg.get_attribute(card, "data-decision") == "pending"
        pg.check(f"{card} input[name=reason][value=wrong-answer]")
        with pg.expect_navigation():
            pg.click(f"{card} .act-reject button[type=submit]")
        assert pg.get_attribute(card, "data-decision") == "rejected"
        assert pg.locator(".review-chain.selected").count() == 1  # the server marks the next pending chain
        assert pg.locator(f"#chain-{c2.pk}.selected").count() == 1
    finally:
        context.close()
