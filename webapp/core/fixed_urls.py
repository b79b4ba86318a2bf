"""Reversals of argument-free URL names, and of names whose one argument is an `<int:...>` id, cached: every
page's navigation reverses ten of them (templates/base.html) and the item page one per chain card; each reverse()
walks the resolver's lookup tables and quotes the result again, ~0.3 ms of the review item page's 8 ms CPU for
strings that never change while the URLconf and script prefix stay the same.

The cache is keyed by the resolver object itself (django.urls.clear_url_caches, which tests and override_settings
of ROOT_URLCONF call, makes a new one) and by the script prefix, so it answers what reverse() would. An id's URL is
its name's URL reversed once with a marker id, the marker then replaced by the id.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import quote

from django.urls import URLResolver, get_resolver, get_script_prefix, get_urlconf, reverse
from django.utils.http import RFC3986_SUBDELIMS


@lru_cache(maxsize=512)
def _reversed(name: str, resolver: URLResolver, prefix: str) -> str:
    return reverse(name, urlconf=resolver.urlconf_name)


def fixed_url(name: str) -> str:
    """reverse(name) for a URL name that takes no arguments."""
    return _reversed(name, get_resolver(get_urlconf()), get_script_prefix())


_MARKER = 7_391_046_285  # an id no test or table reaches; it must occur once in the reversed URL


@lru_cache(maxsize=512)
def _around(name: str, resolver: URLResolver, prefix: str, marker: str) -> tuple[str, str] | None:
    """reverse(name) with `marker` as its one argument, split around it: (before, after), or None."""
    parts = reverse(name, urlconf=resolver.urlconf_name, args=[marker]).split(marker)
    return (parts[0], parts[1]) if len(parts) == 2 else None


def id_url(name: str, pk: int) -> str:
    """reverse(name, args=[pk]) for a URL name whose one argument is an `<int:...>` id."""
    around = _around(name, get_resolver(get_urlconf()), get_script_prefix(), str(_MARKER))
    if around is None or type(pk) is not int or pk < 0:
        return reverse(name, args=[pk])
    return f"{around[0]}{pk}{around[1]}"


_PATH_MARKER = "sightsound-path-marker"
_PATH_SAFE = RFC3986_SUBDELIMS + "/~:@"  # what reverse() leaves unquoted in a URL


def path_url(name: str, path: str) -> str:
    """reverse(name, args=[path]) for a URL name whose one argument matches any path (`(?P<path>.+)`): the media
    files of the player, three reversals per item page. Quoted as reverse() quotes; anything its pattern might
    refuse (empty, a newline, not a str) goes to reverse() itself."""
    around = _around(name, get_resolver(get_urlconf()), get_script_prefix(), _PATH_MARKER)
    if around is None or type(path) is not str or not path or "\n" in path:
        return reverse(name, args=[path])
    return around[0] + quote(path, safe=_PATH_SAFE) + around[1]  # around the marker: reverse()'s own, quoted
