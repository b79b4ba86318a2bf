"""format_html and format_html_join with Django's escaping, minus its per-argument lazy-string dispatch.

django.utils.html.format_html escapes each argument through conditional_escape and escape, both wrapped in
keep_lazy, whose wrapper scans every argument for a lazy Promise on each call; the review item page builds its
fragments (webapp/curation/fragments.py) from about 80 format_html calls and 60,000 escapes per 150 pages, and that
dispatch was a fifth of the page's CPU. Here a lazy argument is forced to str once (as conditional_escape does),
so the output is Django's byte for byte (tests/webapp/test_fast_html.py compares them).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any

from django.utils.functional import Promise
from django.utils.safestring import SafeString


def _escape(value: Any) -> str:
    """Django's conditional_escape: what says it is HTML already is kept, anything else is escaped. The exact
    types the fragments pass most (a str, an int, a SafeString) are answered first, without the generic checks."""
    kind = type(value)
    if kind is str:
        return html.escape(value)
    if kind is int:
        return str(value)  # digits and a sign: nothing to escape
    if kind is SafeString:
        return value
    if isinstance(value, Promise):
        value = str(value)
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


def format_html(format_string: str, *args: Any, **kwargs: Any) -> SafeString:
    if not (args or kwargs):
        raise TypeError("args or kwargs must be provided.")
    return SafeString(format_string.format(*map(_escape, args), **{k: _escape(v) for k, v in kwargs.items()}))


def format_html_join(sep: str, format_string: str,
                     args_generator: Iterable[Iterable[Any] | Mapping[str, Any]]) -> SafeString:
    return SafeString(_escape(sep).join(
        format_html(format_string, **args) if isinstance(args, Mapping) else format_html(format_string, *args)
        for args in args_generator))
