"""Where each role starts, and which entry of the top navigation a page belongs to.

Curators come to review, so a login takes them to their queue; admins run the whole pipeline from the datasets. The
navigation marks the entry of the page being shown (aria-current="page"), read from the URL name rather than the
path, so a page keeps its entry when its URL changes.
"""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.shortcuts import resolve_url
from django.urls import ResolverMatch

from webapp.core.fixed_urls import fixed_url
from webapp.core.roles import is_admin, is_curator

IMPORT_PAGES = {"import_new", "import"}


def landing_url(user: AbstractBaseUser | AnonymousUser) -> str:
    """A curator's queue, or the datasets for admins (and for users without a role, who are told why there)."""
    if is_curator(user) and not is_admin(user):
        return fixed_url("review:queue")
    return fixed_url("catalog:datasets")


def section(match: ResolverMatch | None) -> str:
    """The navigation entry of a page: datasets, import, runs, review, adjudication, snapshots, training, or ""."""
    if match is None:
        return ""
    namespace, name = match.namespace, match.url_name or ""
    if namespace == "catalog":
        return "import" if name in IMPORT_PAGES else "datasets"
    if namespace == "review" and name.startswith("adjudicat"):
        return "adjudication"
    if namespace == "training":
        return "snapshots" if name.startswith("snapshot") else "training"
    return {"curation": "runs", "review": "review"}.get(namespace, "")


class LoginView(auth_views.LoginView):
    """Django's login, landing each role on its own start page unless `next` asks for another."""

    def get_default_redirect_url(self) -> str:
        if self.next_page:
            return resolve_url(self.next_page)
        return landing_url(self.request.user)
