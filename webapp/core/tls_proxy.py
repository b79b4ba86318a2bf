"""Say so when SECURE_SSL_REDIRECT meets a TLS proxy that Django was not told about, instead of looping.

The proxy speaks HTTPS to the browser and plain HTTP to Django; unless BEHIND_TLS_PROXY names its
X-Forwarded-Proto header as proof of HTTPS, every request looks insecure, is redirected to https://, comes back
through the proxy as plain HTTP, and so on forever. The browser only says "too many redirects".
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

HINT = ("a TLS proxy in front of the app forwards HTTPS requests as plain HTTP: set BEHIND_TLS_PROXY=1 so the app "
        "trusts its X-Forwarded-Proto header (the proxy must set that header and drop the client's own), or, if "
        "Django itself serves TLS with no proxy, set BEHIND_TLS_PROXY=0")


class RedirectLoopGuard:
    """Before SecurityMiddleware: a request a TLS proxy marked https that SECURE_SSL_REDIRECT would bounce."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        forwarded = request.META.get("HTTP_X_FORWARDED_PROTO", "").split(",")[0].strip().lower()
        if settings.SECURE_SSL_REDIRECT and not settings.SECURE_PROXY_SSL_HEADER and forwarded == "https" \
                and not request.is_secure():
            logger.warning("redirect loop refused: %s", HINT)
            return HttpResponse(f"This server is misconfigured: {HINT}.\n", status=500,
                                content_type="text/plain; charset=utf-8")
        return self.get_response(request)
