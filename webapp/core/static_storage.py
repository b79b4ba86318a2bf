"""Static files storage whose URLs are worked out once per name and process.

An item page names a dozen static files, and each `{% static %}` joined and quoted its URL afresh: about 0.05 ms
apiece, more than half a millisecond of the page's CPU (bench/review_cpu.py). A name's URL depends only on the
settings, fixed for the process, so it is kept.
"""

from __future__ import annotations

from django.contrib.staticfiles.storage import StaticFilesStorage


class CachedUrlStaticFilesStorage(StaticFilesStorage):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._urls: dict[str | None, str] = {}

    def url(self, name: str | None) -> str:
        found = self._urls.get(name)
        if found is None:
            found = self._urls[name] = super().url(name)
        return found
