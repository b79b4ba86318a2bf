"""A curator's edit shown against the teacher's text as a word diff, for the adjudication page.

Words, not characters or lines: chains are a paragraph or two of prose, where a line diff marks everything changed and
a character diff shreds words. Every piece of text is escaped here; only the <ins>/<del> tags are markup.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from django.utils.safestring import SafeString

from webapp.core.fast_html import format_html, format_html_join

_TOKENS = re.compile(r"\s+|[^\s<>]+|[<>]")


def word_diff(before: str, after: str) -> SafeString:
    """`after` against `before`: removed words in <del>, added ones in <ins>, all text escaped.

    >>> str(word_diff("I hear a <b>dog</b> bark", "I hear a car"))
    'I hear a <del>&lt;b&gt;dog&lt;/b&gt; bark</del><ins>car</ins>'
    """
    a, b = _TOKENS.findall(before), _TOKENS.findall(after)
    parts: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(("{}", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            parts.append(("<del>{}</del>", "".join(a[i1:i2])))
        if j2 > j1:
            parts.append(("<ins>{}</ins>", "".join(b[j1:j2])))
    return format_html_join("", "{}", ((format_html(template, text),) for template, text in parts))
