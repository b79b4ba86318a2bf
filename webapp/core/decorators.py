"""View guards. Login is enforced globally by LoginRequiredMiddleware; these add the role checks."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from webapp.core.roles import is_admin, is_curator

View = Callable[..., HttpResponse]


def _require(check: Callable[[Any], bool], role: str) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not check(request.user):
                raise PermissionDenied(f"This page needs the {role} role.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


curator_required = _require(is_curator, "curator")
admin_required = _require(is_admin, "admin")
