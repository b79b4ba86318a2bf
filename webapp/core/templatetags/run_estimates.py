"""`{{ run|estimate_vs_actual }}`: a run page sets the launch's estimate beside what the run took."""

from __future__ import annotations

from typing import Any

from django import template

from webapp.core.estimates import versus

register = template.Library()


@register.filter
def estimate_vs_actual(run: Any) -> str:
    return versus(run)
