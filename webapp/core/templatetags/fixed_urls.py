"""`{% fixed_url 'name' %}`: `{% url 'name' %}` for a name without arguments, cached (webapp/core/fixed_urls.py)."""

from __future__ import annotations

from django import template

from webapp.core.fixed_urls import fixed_url

register = template.Library()
register.simple_tag(fixed_url, name="fixed_url")
