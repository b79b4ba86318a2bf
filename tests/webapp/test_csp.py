"""The app's CSP middleware (the policy built once) sends exactly the headers django-csp's own would."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.decorators import csp_exempt, csp_update
from csp.exceptions import CSPNonceError
from csp.middleware import CSPMiddleware as DjangoCSPMiddleware
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from webapp.core.csp import CSPMiddleware


def _plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def _with_nonce(request: HttpRequest) -> HttpResponse:
    return HttpResponse(f"<script nonce='{request.csp_nonce}'></script>")  # type: ignore[attr-defined]


def _own_header(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(b"file")
    response[HEADER] = "default-src 'none'; sandbox"
    return response


def _missing(request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=404)


VIEWS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "plain": _plain, "nonce": _with_nonce, "own header": _own_header, "404": _missing,
    "exempt": csp_exempt()(_plain), "updated": csp_update({"img-src": ["https://example.org"]})(_plain),
}


def _headers(middleware: type, view: Callable[[HttpRequest], HttpResponse], path: str) -> dict[str, str | None]:
    response = middleware(view)(RequestFactory().get(path))
    return {name: response.get(name) for name in (HEADER, HEADER_REPORT_ONLY)}


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("report_only", [False, True], ids=["enforced", "and report-only"])
@pytest.mark.parametrize("view", list(VIEWS))
def test_it_sends_the_headers_django_csp_would(settings, view: str, report_only: bool, debug: bool) -> None:
    settings.DEBUG = debug
    if report_only:
        settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {
            "EXCLUDE_URL_PREFIXES": ["/excluded"], "DIRECTIVES": {"default-src": ["'self'"], "report-uri": "/r"}}
    for path in ("/review/next/", "/excluded/page"):
        ours, theirs = _headers(CSPMiddleware, VIEWS[view], path), _headers(DjangoCSPMiddleware, VIEWS[view], path)
        assert ours == theirs, (path, ours, theirs)
    if view in ("plain", "updated"):
        assert _headers(CSPMiddleware, VIEWS[view], "/review/next/")[HEADER]


def test_a_changed_policy_setting_is_sent_from_the_next_response(settings) -> None:
    before = _headers(CSPMiddleware, _plain, "/")[HEADER]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    after = _headers(CSPMiddleware, _plain, "/")[HEADER]
    assert before != after == "default-src 'none'"


def test_a_nonce_asked_for_after_the_header_is_written_raises_as_in_django_csp() -> None:
    request = RequestFactory().get("/")
    CSPMiddleware(_plain)(request)
    with pytest.raises(CSPNonceError):
        str(request.csp_nonce)  # type: ignore[attr-defined]
