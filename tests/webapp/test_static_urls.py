"""Static URLs are worked out once per name (webapp/core/static_storage.py) and are the ones Django gives."""

from __future__ import annotations

from django.contrib.staticfiles.storage import StaticFilesStorage, staticfiles_storage
from django.templatetags.static import static

from webapp.core.static_storage import CachedUrlStaticFilesStorage


def test_a_static_url_is_djangos_and_kept_per_name() -> None:
    plain, kept = StaticFilesStorage(), CachedUrlStaticFilesStorage()
    for name in ("css/chains.css", "js/a b.js", "img/é?x=1"):
        assert kept.url(name) == plain.url(name) == kept.url(name)
    assert set(kept._urls) == {"css/chains.css", "js/a b.js", "img/é?x=1"}


def test_the_templates_static_tag_uses_the_kept_urls() -> None:
    assert static("css/chains.css") == StaticFilesStorage().url("css/chains.css")
    assert isinstance(staticfiles_storage._wrapped, CachedUrlStaticFilesStorage)
