from __future__ import annotations

from django.http import HttpRequest

from webapp.core.roles import is_admin, is_curator


def roles(request: HttpRequest) -> dict[str, bool]:
    user = getattr(request, "user", None)
    if user is None:
        return {"is_admin": False, "is_curator": False}
    return {"is_admin": is_admin(user), "is_curator": is_curator(user)}
