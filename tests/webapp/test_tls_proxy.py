"""SECURE_SSL_REDIRECT behind a TLS proxy without BEHIND_TLS_PROXY redirected every request to itself forever; now
the request gets a page that says what to set, and startup warns before the first request."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.test import Client

PROXY_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


@pytest.fixture
def ssl_redirect(settings):  # type: ignore[no-untyped-def]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = None
    settings.BEHIND_TLS_PROXY = None
    return settings


def test_a_request_from_a_tls_proxy_gets_a_clear_error_instead_of_a_redirect_loop(ssl_redirect) -> None:
    response = Client().get("/login/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 500 and "Location" not in response
    assert "BEHIND_TLS_PROXY=1" in response.content.decode()


def test_with_behind_tls_proxy_set_forwarded_https_is_served_and_plain_http_redirected(ssl_redirect) -> None:
    ssl_redirect.SECURE_PROXY_SSL_HEADER = PROXY_HEADER
    ssl_redirect.BEHIND_TLS_PROXY = True
    assert Client().get("/login/", HTTP_X_FORWARDED_PROTO="https").status_code == 200
    plain = Client().get("/login/", HTTP_X_FORWARDED_PROTO="http")
    assert plain.status_code == 301 and plain["Location"].startswith("https://")


def test_without_a_proxy_plain_http_is_still_redirected_to_https(ssl_redirect) -> None:
    response = Client().get("/login/")
    assert response.status_code == 301 and response["Location"].startswith("https://")


def _tls_warnings() -> list[str]:
    return [m.id for m in run_checks() if m.id == "sightsound.W001"]


def test_startup_warns_when_ssl_redirect_is_on_and_behind_tls_proxy_is_unset(ssl_redirect) -> None:
    assert _tls_warnings() == ["sightsound.W001"]
    ssl_redirect.BEHIND_TLS_PROXY = False  # said explicitly: Django itself terminates TLS, no proxy
    assert _tls_warnings() == []
    ssl_redirect.BEHIND_TLS_PROXY, ssl_redirect.SECURE_PROXY_SSL_HEADER = True, PROXY_HEADER
    assert _tls_warnings() == []
    ssl_redirect.SECURE_SSL_REDIRECT, ssl_redirect.BEHIND_TLS_PROXY = False, None
    assert _tls_warnings() == []
