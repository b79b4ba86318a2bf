"""The review page's layout in a real Chromium: the player and question stay on screen while the chains scroll,
long tokens wrap, long chains fold, claim colours have a legend; the question page pages a big run's chains."""

from __future__ import annotations

import pytest

from tests.browser.helpers import login
from tests.webapp.review_factories import add_chains, make_dataset, make_question
from webapp.catalog.models import Question
from webapp.curation.models import Chain, GenerationRun

pytestmark = pytest.mark.django_db(transaction=True)

LONG_TOKEN = "https://example.org/" + "x" * 400
LONG_TEXT = "<think>" + LONG_TOKEN + "\n" + "\n".join(f"Step {i}: I hear the engine again." for i in range(80))
LONG_TEXT += "</think><answer>B</answer>"


@pytest.fixture
def busy_question(users) -> Question:  # type: ignore[no-untyped-def]
    question = make_question(make_dataset("layout"), 1, chains=12)
    first = question.chains.order_by("sample_index").first()
    Chain.objects.filter(pk=first.pk).update(text=LONG_TEXT)
    return question


def _open(page, question: Question) -> None:  # type: ignore[no-untyped-def]
    login(page, "bob", "pw-bob")
    page.goto(f"/review/q/{question.pk}/")


def _box(page, selector: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return page.evaluate(
        f"(() => {{ const r = document.querySelector('{selector}').getBoundingClientRect();"
        " return {top: r.top, bottom: r.bottom, height: r.height}; })()"
    )


def test_it_keeps_the_player_and_question_on_screen_while_chains_scroll(page, busy_question: Question) -> None:  # type: ignore[no-untyped-def]
    last = busy_question.chains.order_by("sample_index").last()
    _open(page, busy_question)
    page.locator(f"#chain-{last.pk}").scroll_into_view_if_needed()
    assert page.evaluate("window.scrollY") > 300  # the chains did scroll
    viewport = page.viewport_size["height"]
    for selector in ("#review-player", "#review-player .qtext"):
        box = _box(page, selector)
        assert box["top"] >= 0 and box["bottom"] <= viewport, (selector, box)


def test_it_wraps_long_tokens_and_folds_long_chains(page, busy_question: Question) -> None:  # type: ignore[no-untyped-def]
    first = busy_question.chains.order_by("sample_index").first()
    card = f"#chain-{first.pk}"
    _open(page, busy_question)
    assert page.evaluate(
        f"(() => {{ const t = document.querySelector('{card} .text'); return t.scrollWidth <= t.clientWidth; }})()"
    )  # the 420-character URL wraps
    folded = _box(page, f"{card} .text")["height"]
    assert folded < 400, folded
    page.click(f"{card} .unfold")  # a click unfolds it...
    assert _box(page, f"{card} .text")["height"] > 2 * folded
    page.keyboard.press("o")  # ...and "o" folds the selected chain again
    assert _box(page, f"{card} .text")["height"] == folded
    page.goto(f"/questions/{busy_question.pk}/")  # the question page folds it too
    assert _box(page, f"{card} .text")["height"] == folded


def test_it_explains_the_claim_colours_with_a_legend(page, busy_question: Question) -> None:  # type: ignore[no-untyped-def]
    _open(page, busy_question)
    legend = page.locator("#claim-legend")
    assert legend.is_visible()
    for verdict in ("supported", "contradicted", "unverifiable"):
        sample = legend.locator(f".claim.{verdict}")
        assert verdict in sample.inner_text()
        # The sample wears the very colour a claim of that verdict has in a chain.
        in_chain = page.evaluate(
            "v => { const m = document.createElement('mark'); m.className = 'claim ' + v;"
            " document.querySelector('.review-chain .text').append(m);"
            " const c = getComputedStyle(m).backgroundColor; m.remove(); return c; }",
            verdict,
        )
        assert in_chain != "rgba(0, 0, 0, 0)"
        assert sample.evaluate("e => getComputedStyle(e).backgroundColor") == in_chain


def test_it_pages_a_big_run_on_the_question_page(page, users) -> None:  # type: ignore[no-untyped-def]
    dataset = make_dataset("big")
    question = make_question(dataset, 1, chains=0)
    run = GenerationRun.objects.create(dataset=dataset, samples_per_question=64)
    add_chains(question, 64, run=run)
    Chain.objects.filter(question=question).update(text="<think>" + "I hear it. " * 60 + "</think><answer>B</answer>")
    login(page, "bob", "pw-bob")
    page.goto(f"/questions/{question.pk}/")
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 6000, height  # a K=64 run made this page 25,000 px tall
    section = page.locator(f"#run-{run.pk}-chains")
    assert "64 chains" in section.inner_text()
    shown = section.locator("article.chain").count()
    assert 0 < shown < 64
    section.locator("a.next-chains").click()  # a plain link: works without JavaScript
    page.wait_for_url(f"**/questions/{question.pk}/?run_{run.pk}=2*")
    assert page.locator(f"#run-{run.pk}-chains article.chain").count() == shown
    assert f"#{shown + 1}" in page.locator(f"#run-{run.pk}-chains article.chain header b").first.inner_text()
