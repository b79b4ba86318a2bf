"""The README's picture of the review page, taken from the real page over the seeded data.

`scripts/screenshots.sh` runs this and copies `tests/browser/artifacts/review.png` to `docs/img/review.png`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.helpers import login
from tests.browser.seed import seed

pytestmark = pytest.mark.django_db(transaction=True)
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def test_it_shows_the_review_page_with_its_waveform_and_chains(
    page, users, tmp_path: Path, real_videos: Path, media_root: Path
) -> None:  # type: ignore[no-untyped-def]
    seeded = seed(tmp_path, real_videos, users, media_root)
    page.set_viewport_size({"width": 1280, "height": 820})
    login(page, "bob", "pw-bob")
    page.goto(f"/review/q/{seeded.question.pk}/")
    page.wait_for_function("document.getElementById('review-root').dataset.waveReady === '1'")
    page.evaluate("document.getElementById('player').currentTime = 2")
    page.wait_for_function(
        "document.getElementById('player').readyState >= 2 && !document.getElementById('player').seeking"
    )
    assert page.locator(".review-chain").count() == 3 and page.is_visible("#wave")  # the dropped chain is not shown
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "review.png"))
    assert (ARTIFACTS / "review.png").stat().st_size > 20_000
