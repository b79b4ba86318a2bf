"""Reversals of argument-free URL names, cached: every page's navigation reverses ten of them (templates/base.html),
and each reverse() walks the resolver's lookup tables and quotes the result again, ~0.3 ms of the review item
page's 8 ms CPU for a string that never changes while the URLconf and script prefix stay the same.

The cache is keyed by the resolver object itself (django.urls.clear_url_caches, which tests and override_settings
of ROOT_URLCONF call, makes a new one) and by the script prefix, so it answers what reverse() would.
"""

from __future__ import annotations

from functools import lru_cache

from django.urls import URLResolver, get_resolver, get_script_prefix, get_urlconf, reverse


@lru_cache(maxsize=512)
def _reversed(name: str, resolver: URLResolver, prefix: str) -> str:
    return reverse(name, urlconf=resolver.urlconf_name)


def fixed_url(name: str) -> str:
    """reverse(name) for a URL name that takes no arguments."""
    return _reversed(name, get_resolver(get_urlconf()), get_script_prefix())

