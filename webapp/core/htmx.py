"""Page or partial: one view serves the whole page, or to htmx only the fragment it swaps (django-template-partials).

Every polling table and status box is a named `{% partialdef %}` of its page, so the page and its refresh can never
drift apart; this is the one place that decides which of the two a request gets.
"""

from __future__ import annotations

from django.http import HttpRequest


def page_or_partial(request: HttpRequest, template: str, part: str) -> str:
    """`template#part` for an htmx request (the fragment it swaps), else the full `template`."""
    return f"{template}#{part}" if getattr(request, "htmx", False) else template
