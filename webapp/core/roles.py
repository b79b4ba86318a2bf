"""Roles are Django groups: curators review; admins also import, launch runs and export."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, Group

CURATORS = "curators"
ADMINS = "admins"


def is_admin(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated:
        return False
    return bool(getattr(user, "is_superuser", False)) or user.groups.filter(name=ADMINS).exists()  # type: ignore[union-attr]


def is_curator(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated:
        return False
    return is_admin(user) or user.groups.filter(name=CURATORS).exists()  # type: ignore[union-attr]


def ensure_groups() -> tuple[Group, Group]:
    curators, _ = Group.objects.get_or_create(name=CURATORS)
    admins, _ = Group.objects.get_or_create(name=ADMINS)
    return curators, admins
