"""Each request's fixed reads, the session (webapp/core/sessions.py) and the user's groups (webapp/core/roles.py),
are plain statements now: they must still honour expiry, unknown keys and a change of groups at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from webapp.core.roles import ADMINS, CURATORS, group_names
from webapp.core.sessions import SessionStore

pytestmark = pytest.mark.django_db


def test_it_reads_a_live_session_and_not_an_expired_or_unknown_one(curator_client: Client) -> None:
    assert curator_client.get("/review/").status_code == 200
    key = curator_client.cookies["sessionid"].value
    assert SessionStore(key).load()["_auth_user_id"]
    assert SessionStore("x" * 32).load() == {} and SessionStore("bad key").load() == {}
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    assert SessionStore(key).load() == {}
    response = curator_client.get("/review/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_it_sees_a_role_granted_or_taken_away_on_the_next_request(curator_client: Client, users) -> None:  # type: ignore[no-untyped-def]
    bob = users["curator"]
    assert group_names(User.objects.get(pk=bob.pk)) == {CURATORS}
    assert curator_client.get("/runs/new/").status_code == 403
    bob.groups.add(Group.objects.get(name=ADMINS))
    assert group_names(User.objects.get(pk=bob.pk)) == {CURATORS, ADMINS}
    assert curator_client.get("/runs/new/").status_code == 200
    bob.groups.clear()
    assert group_names(User.objects.get(pk=bob.pk)) == frozenset()
    assert curator_client.get("/review/").status_code == 403
