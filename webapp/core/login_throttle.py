"""Login throttling (django-axes) glue: whose address a failure counts against, and what a locked-out user reads.

Failures are counted per username and address together, so a guesser cannot lock a curator out from elsewhere
and one shared address (an office, the proxy) does not lock everyone out.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def client_ip(request: HttpRequest) -> str:
    """The client's address. Behind the TLS proxy (BEHIND_TLS_PROXY) REMOTE_ADDR is the proxy's for everyone, so
    the last X-Forwarded-For entry is used: the one our proxy appended (earlier ones are the client's to forge)."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.SECURE_PROXY_SSL_HEADER and forwarded.strip():
        return forwarded.split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


def lockout_response(request: HttpRequest, original_response: Any = None, credentials: Any = None) -> HttpResponse:
    """429 with the login page's layout: why, for how long, and who can lift it."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
