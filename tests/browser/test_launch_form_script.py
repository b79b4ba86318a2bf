"""Launch forms in a real Chromium under the app's CSP: fields of another backend hide, and a pressed launch button
says it is working."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import login
from tests.webapp.review_factories import make_dataset, make_question

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_shows_a_backends_fields_only_for_that_backend(strict_page, users) -> None:  # type: ignore[no-untyped-def]
    make_question(make_dataset(), 1, chains=0)
    login(strict_page, "alice", "pw-alice")
    strict_page.goto("/runs/new/")
    endpoint = strict_page.locator(".field:has(#id_endpoint)")
    strict_page.select_option("#id_backend", "transformers")
    assert endpoint.is_hidden()
    strict_page.select_option("#id_backend", "openai")
    assert endpoint.is_visible()
    strict_page.fill("#id_endpoint", "")  # the form refuses this: the button still says it is working meanwhile
    button = strict_page.locator("form[data-launch] button[type=submit]")
    button.click()
    strict_page.wait_for_load_state()
    assert "needs the server" in strict_page.content()  # refused and shown again, with the button usable
    assert strict_page.csp_violations == []


def test_it_disables_the_launch_button_once_pressed(page, users) -> None:  # type: ignore[no-untyped-def]
    make_question(make_dataset(), 1, chains=0)
    login(page, "alice", "pw-alice")
    page.goto("/runs/new/")
    # Hold the post here (after launch.js's own listener has run) to look at the button while it would be working.
    page.evaluate("() => document.querySelector('form[data-launch]')"
                  ".addEventListener('submit', (e) => e.preventDefault())")
    button = page.locator("form[data-launch] button[type=submit]")
    button.click()
    assert button.is_disabled() and button.text_content() == "Launch: working…"
    assert button.get_attribute("aria-busy") == "true"


def test_it_updates_the_estimate_when_a_field_changes(strict_page, users) -> None:  # type: ignore[no-untyped-def]
    from django.utils import timezone

    from webapp.curation.models import GenerationRun

    dataset = make_dataset()
    for n in range(30):
        make_question(dataset, n, chains=0)
    GenerationRun.objects.create(dataset=dataset, status="succeeded", finished_at=timezone.now(),
                                 progress_metrics={"chains_per_s": 0.05})
    login(strict_page, "alice", "pw-alice")
    strict_page.goto("/runs/new/")
    estimate = strict_page.locator("#estimate")
    assert estimate.text_content().startswith("120 chains: about 40 min")  # K=4 by default
    strict_page.fill("#id_k", "8")
    strict_page.locator("#id_k").dispatch_event("change")
    expect(estimate).to_have_text(re.compile(r"^240 chains: about 80 min"))  # polled without eval: the CSP stays on
    assert strict_page.csp_violations == []
