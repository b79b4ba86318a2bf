"""The logged-in user read on every request by one prepared statement (webapp/core/prepared.py).

Django's ModelBackend builds `User.objects.get(pk=...)` anew on each request, which cost several times the query
itself on the review pages (bench/review_cpu.py). Logging in, permissions and the is_active check are
ModelBackend's own; only the read by id is prepared.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from webapp.core.prepared import Prepared


def _by_id(user_id: int) -> QuerySet[Any]:
    return get_user_model()._default_manager.filter(pk=user_id)


_USER = Prepared[Any](_by_id, "int")


class UserBackend(ModelBackend):
    def get_user(self, user_id: Any) -> Any:
        try:
            pk = int(get_user_model()._meta.pk.to_python(user_id))
        except (TypeError, ValueError, ValidationError):
            return None
        user = _USER.first(pk)
        return user if user is not None and self.user_can_authenticate(user) else None
