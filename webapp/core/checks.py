"""System checks for what Django's own (and `check --deploy`) cannot know about this app's deployment."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core.checks import Tags, Warning, register

from webapp.core.tls_proxy import HINT


@register(Tags.security)
def tls_proxy_said(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """At every start (runserver, migrate, rqworker): with SECURE_SSL_REDIRECT on, say whether a proxy is in front."""
    if settings.SECURE_SSL_REDIRECT and settings.BEHIND_TLS_PROXY is None:
        return [Warning("SECURE_SSL_REDIRECT is on and BEHIND_TLS_PROXY is unset", hint=f"If {HINT}.",
                        id="sightsound.W001")]
    return []


@register(Tags.security, deploy=True)
def redis_requires_a_password(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Whoever can write to the job queue can make the workers run jobs: a shared Redis must not be open."""
    url = urlparse(settings.REDIS_URL or "")
    if url.scheme in {"redis", "rediss"} and not url.password:
        return [Warning("REDIS_URL carries no password", id="sightsound.W002",
                        hint="Give the app its own Redis user with a password and ACLs limited to its keys "
                             "(redis://USER:PASSWORD@host:6379/0; docs/deployment.md).")]
    return []
