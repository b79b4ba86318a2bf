"""webapp.core.fast_html builds exactly what django.utils.html's format_html and format_html_join build: the review
fragments switched to it for speed, and their markup must not change."""

from __future__ import annotations

import pytest
from django.utils import html as django_html
from django.utils.functional import lazy
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy

from webapp.core import fast_html


class _Html:
    def __html__(self) -> str:
        return "<b>kept</b>"


_lazy_text = lazy(lambda: "<lazy & 'text'>", str)()
_lazy_safe = lazy(lambda: mark_safe("<i>lazy safe</i>"), SafeString)()
ARGUMENTS = ["plain", -7, True, "<script>alert('x') & \"y\"</script>", mark_safe("<em>safe</em>"), 3, 2.50, None, "",
             _Html(), _lazy_text, _lazy_safe, gettext_lazy("Review"), SafeString("a & b")]


@pytest.mark.parametrize("value", ARGUMENTS)
def test_format_html_escapes_each_argument_as_django_does(value: object) -> None:
    template = '<span title="{}">{}</span>'
    ours = fast_html.format_html(template, value, value)
    assert ours == django_html.format_html(template, value, value)
    assert isinstance(ours, SafeString)


def test_format_html_keyword_arguments_and_repeats() -> None:
    template = '<form action="{url}" hx-post="{url}">{0}{body}</form>'
    args = ("<x>",)
    kwargs = {"url": "/review/decide/1/?a=1&b=2", "body": mark_safe("<input>")}
    assert fast_html.format_html(template, *args, **kwargs) == django_html.format_html(template, *args, **kwargs)


def test_format_html_join_matches_django_for_tuples_mappings_and_an_unsafe_separator() -> None:
    rows = [("<a>", 1), (mark_safe("<b>"), None), (_lazy_text, "")]
    assert fast_html.format_html_join(" & ", "<li>{}{}</li>", rows) == \
        django_html.format_html_join(" & ", "<li>{}{}</li>", rows)
    named = [{"v": "<a>"}, {"v": mark_safe("<b>")}]
    assert fast_html.format_html_join("", "<i>{v}</i>", named) == django_html.format_html_join("", "<i>{v}</i>", named)
    assert isinstance(fast_html.format_html_join("", "{}", []), SafeString)


def test_format_html_without_arguments_is_refused() -> None:
    """Django 6 refuses it too (5.x warns): a bare string needs no formatting and would lose its doubled braces."""
    with pytest.raises(TypeError):
        fast_html.format_html("<p>{{}}</p>")
