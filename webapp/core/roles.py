"""Roles are Django groups: curators review; admins also import, launch runs and export.

A page asks about roles several times (the view's guard, then the context processor asks both questions for
the navigation): each used to be its own query. The user's group names are read once and kept on the user
object, which AuthenticationMiddleware loads afresh for every request, so the cache lives exactly one request
and a change of groups shows on the next page.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group

CURATORS = "curators"
ADMINS = "admins"
_CACHE = "_sightsound_group_names"


def group_names(user: AbstractBaseUser) -> frozenset[str]:
    """The names of the user's groups: one query the first time it is asked for this user object."""
    names = getattr(user, _CACHE, None)
    if names is None:
        names = frozenset(user.groups.values_list("name", flat=True))  # type: ignore[attr-defined]
        setattr(user, _CACHE, names)
    return names


def is_admin(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated:
        return False
    return bool(getattr(user, "is_superuser", False)) or ADMINS in group_names(user)  # type: ignore[arg-type]


def is_curator(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated:
        return False
    return is_admin(user) or CURATORS in group_names(user)  # type: ignore[arg-type]


def ensure_groups() -> tuple[Group, Group]:
    curators, _ = Group.objects.get_or_create(name=CURATORS)
    admins, _ = Group.objects.get_or_create(name=ADMINS)
    return curators, admins
