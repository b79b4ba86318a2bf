"""fixed_url caches reverse() of argument-free names yet answers as reverse() does when the URLconf or the script
prefix changes (override_settings of ROOT_URLCONF, a request's urlconf, a deployment under a sub-path)."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.test import override_settings
from django.urls import NoReverseMatch, clear_url_caches, get_script_prefix, reverse, set_script_prefix, set_urlconf

from webapp.core.fixed_urls import fixed_url, id_url, path_url


def test_fixed_url_is_reverse() -> None:
    assert fixed_url("review:queue") == reverse("review:queue")
    assert fixed_url("review:queue") == reverse("review:queue")  # the cached answer too


def test_fixed_url_follows_root_urlconf_changes() -> None:
    before = fixed_url("review:queue")
    with override_settings(ROOT_URLCONF="tests.webapp.fixed_urls_conf"):
        assert fixed_url("review:queue") == "/moved/elsewhere/"
    assert fixed_url("review:queue") == before


def test_fixed_url_follows_a_request_urlconf_and_cleared_url_caches() -> None:
    before = fixed_url("review:queue")
    set_urlconf("tests.webapp.fixed_urls_conf")
    try:
        assert fixed_url("review:queue") == "/moved/elsewhere/"
    finally:
        set_urlconf(None)
    clear_url_caches()
    assert fixed_url("review:queue") == before


def test_id_url_is_reverse_for_any_id() -> None:
    for pk in (0, 1, 7, 42, 7_391_046_285, 10**12):
        assert id_url("review:decide", pk) == reverse("review:decide", args=[pk])
        assert id_url("review:item", pk) == reverse("review:item", args=[pk])


def test_id_url_follows_the_urlconf_and_script_prefix() -> None:
    before, prefix = id_url("review:item", 5), get_script_prefix()
    set_script_prefix("/studio/")
    try:
        assert id_url("review:item", 5) == "/studio" + before
    finally:
        set_script_prefix(prefix)
    with override_settings(ROOT_URLCONF="tests.webapp.fixed_urls_conf"):
        assert id_url("review:item", 5) == "/moved/item/5/"
    assert id_url("review:item", 5) == before


def test_fixed_url_follows_the_script_prefix() -> None:
    before, prefix = fixed_url("review:queue"), get_script_prefix()
    set_script_prefix("/studio/")
    try:
        assert fixed_url("review:queue") == "/studio" + before
    finally:
        set_script_prefix(prefix)
    assert fixed_url("review:queue") == before


def test_fixed_url_tag_renders_as_the_url_tag() -> None:
    ours = Template("{% load fixed_urls %}<a href=\"{% fixed_url 'logout' %}\">").render(Context())
    assert ours == Template("<a href=\"{% url 'logout' %}\">").render(Context())


PATHS = ["clips/ab/cd/clip.mp4", "derived/7/frames/000.jpg", "a b/ç é/#?&%x.wav", "x+y=z;@:~!$'()*,", "/abs//double",
         "..%2F..", "tab\there", "日本語/音.mp3", "sightsound-path-marker/x"]


@pytest.mark.parametrize("path", PATHS)
def test_path_url_is_reverse_for_any_path(path: str) -> None:
    assert path_url("media", path) == reverse("media", args=[path])
    assert path_url("media", path) == reverse("media", args=[path])  # the cached prefix too


def test_path_url_follows_the_script_prefix_and_leaves_odd_input_to_reverse() -> None:
    before, prefix = path_url("media", "a/b.wav"), get_script_prefix()
    set_script_prefix("/studio/")
    try:
        assert path_url("media", "a/b.wav") == "/studio" + before == reverse("media", args=["a/b.wav"])
    finally:
        set_script_prefix(prefix)
    for odd in ("", "line\nbreak"):
        with pytest.raises(NoReverseMatch):
            path_url("media", odd)


def test_the_id_and_path_url_tags_render_as_the_url_tag() -> None:
    context = Context({"pk": 12, "path": "a&b/<c>.mp4"})
    ours = Template("{% load fixed_urls %}{% id_url 'review:item' pk %} {% path_url 'media' path %}").render(context)
    assert ours == Template("{% url 'review:item' pk %} {% url 'media' path %}").render(context)
