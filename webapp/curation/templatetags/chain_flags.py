"""`{{ chain.flags|flag_labels }}`: the (name, label) pairs a chain's flag bits stand for, for chips."""

from __future__ import annotations

from django import template

from webapp.curation.flags import flag_labels as _flag_labels

register = template.Library()


@register.filter
def flag_labels(bits: int | None) -> list[tuple[str, str]]:
    return _flag_labels(bits or 0)
