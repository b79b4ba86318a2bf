from __future__ import annotations

from django.http import HttpRequest

from webapp.core.navigation import landing_url, section
from webapp.core.roles import is_admin, is_curator


def roles(request: HttpRequest) -> dict[str, bool]:
    user = getattr(request, "user", None)
    if user is None:
        return {"is_admin": False, "is_curator": False}
    return {"is_admin": is_admin(user), "is_curator": is_curator(user)}


def navigation(request: HttpRequest) -> dict[str, str]:
    """`nav`: the navigation entry of this page; `home_url`: where this user starts (error pages lead back there)."""
    user = getattr(request, "user", None)
    return {"nav": section(getattr(request, "resolver_match", None)),
            "home_url": landing_url(user) if user is not None else "/"}
