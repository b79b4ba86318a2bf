"""The active queue in a real Chromium: the curator is served the question most likely hallucinated first, with
the reason on the page, and the order across questions follows the ranking, not the import order."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.helpers import import_real_question
from tests.browser.helpers import login as _login
from tests.webapp.review_factories import add_chains, make_question
from webapp.curation.models import Verdict
from webapp.curation.review import priority

pytestmark = pytest.mark.django_db(transaction=True)


def test_next_serves_the_likely_hallucination_first_and_says_why(page, tmp_path: Path, real_videos: Path,
                                                                  users) -> None:  # type: ignore[no-untyped-def]
    first = import_real_question(tmp_path, real_videos)  # imported first, fully supported
    add_chains(first, 2)
    unheard = make_question(first.dataset, 2, chains=2, clip=first.clip)
    Verdict.objects.filter(chain__question=unheard).update(score=0.0, label="fail")
    Verdict.objects.exclude(chain__question=unheard).update(score=1.0, label="pass")
    priority.refresh(first.dataset)

    _login(page, "bob", "pw-bob")
    page.goto("/review/next/")
    page.wait_for_url(f"**/review/q/{unheard.pk}/")
    assert page.inner_text("#served-because") == "Served first because: few of its sound claims were heard"
