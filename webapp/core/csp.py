"""django-csp's middleware with the policy header built once, not on every response.

django-csp rebuilds the header string from settings for every response (a dataclass `asdict`, a copy and a join
per directive, twice: enforced and report-only), about 70 µs a request, 1.5 % of a review decision's CPU
(bench/review_cpu.py). Our policy is fixed by settings, so a response that carries no per-view override and whose
request used no nonce gets the same two strings, computed once and recomputed when a test changes the setting.
Anything else goes through django-csp unchanged, and the headers are byte for byte django-csp's
(tests/webapp/test_csp.py compares them).
"""

from __future__ import annotations

import functools
import http.client
from typing import Any

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as DjangoCSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponseBase

# What the csp decorators set on a response to change its policy.
PER_RESPONSE = ("_csp_config", "_csp_update", "_csp_replace", "_csp_config_ro", "_csp_update_ro", "_csp_replace_ro")
DEBUG_EXEMPT = (http.client.INTERNAL_SERVER_ERROR, http.client.NOT_FOUND)


@functools.cache
def _fixed() -> tuple[tuple[str, str, str, tuple[str, ...]], ...]:
    """(header, value, exempt attribute, excluded path prefixes) for the enforced and the report-only policy."""
    out = []
    for header, report_only, exempt, setting in (
            (HEADER, False, "_csp_exempt", "CONTENT_SECURITY_POLICY"),
            (HEADER_REPORT_ONLY, True, "_csp_exempt_ro", "CONTENT_SECURITY_POLICY_REPORT_ONLY")):
        value = build_policy(report_only=report_only)
        prefixes = tuple((getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES", None) or ())
        if value:
            out.append((header, value, exempt, prefixes))
    return tuple(out)


@receiver(setting_changed)
def _policy_changed(setting: str, **kwargs: Any) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _fixed.cache_clear()


class CSPMiddleware(DjangoCSPMiddleware):
    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if getattr(request, "_csp_nonce", None) is not None or any(hasattr(response, a) for a in PER_RESPONSE):
            return super().process_response(request, response)
        if response.status_code in DEBUG_EXEMPT and settings.DEBUG:
            return response
        for header, value, exempt, prefixes in _fixed():
            if (header not in response and getattr(response, exempt, False) is False
                    and not request.path_info.startswith(prefixes)):
                response[header] = value
        # As django-csp: a nonce asked for after the header is written raises rather than silently not applying.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)  # type: ignore[attr-defined]
        return response
