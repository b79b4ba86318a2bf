"""`{% url %}` for the names whose reversal can be cached (webapp/core/fixed_urls.py): `{% fixed_url 'name' %}` without
arguments, `{% id_url 'name' pk %}` with one id, `{% path_url 'name' path %}` with one path (the media files)."""

from __future__ import annotations

from django import template

from webapp.core.fixed_urls import fixed_url, id_url, path_url

register = template.Library()
register.simple_tag(fixed_url, name="fixed_url")
register.simple_tag(id_url, name="id_url")
register.simple_tag(path_url, name="path_url")
