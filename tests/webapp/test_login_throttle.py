"""Password guessing is throttled (django-axes): after LOGIN_FAILURE_LIMIT failures for one username from one
address, even the right password is refused, with a message that says why and for how long."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client


def _log_in(client: Client, username: str, password: str, address: str = "203.0.113.7"):  # type: ignore[no-untyped-def]
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_the_right_password_is_refused_after_too_many_wrong_ones(users: dict[str, User]) -> None:
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _log_in(client, "bob", "wrong").status_code == 200  # the form again, with its error
    assert _log_in(client, "bob", "wrong").status_code == 429
    locked = _log_in(client, "bob", "pw-bob")
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.content.decode() and "try again in 15 minutes" in locked.content.decode()
    assert client.get("/").status_code == 302  # not logged in


def test_the_lockout_is_per_username_and_address(users: dict[str, User]) -> None:
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _log_in(client, "bob", "wrong")
    assert _log_in(Client(), "alice", "pw-alice").status_code == 302  # another user from the same address
    assert _log_in(Client(), "bob", "pw-bob", address="198.51.100.9").status_code == 302  # bob elsewhere


def test_a_success_before_the_limit_resets_the_count(users: dict[str, User]) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _log_in(Client(), "bob", "wrong")
    assert _log_in(Client(), "bob", "pw-bob").status_code == 302
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _log_in(Client(), "bob", "wrong")
    assert _log_in(Client(), "bob", "pw-bob").status_code == 302


def test_behind_the_tls_proxy_it_counts_the_forwarded_client_not_the_proxy(users: dict[str, User], settings) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # BEHIND_TLS_PROXY=1
    proxy = "10.0.0.2"
    for _ in range(settings.AXES_FAILURE_LIMIT):
        Client().post("/login/", {"username": "bob", "password": "wrong"}, REMOTE_ADDR=proxy,
                      HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.7")  # the first entry is the client's to forge
    elsewhere = Client().post("/login/", {"username": "bob", "password": "pw-bob"}, REMOTE_ADDR=proxy,
                              HTTP_X_FORWARDED_FOR="198.51.100.1, 198.51.100.9")
    assert elsewhere.status_code == 302
    again = Client().post("/login/", {"username": "bob", "password": "pw-bob"}, REMOTE_ADDR=proxy,
                          HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert again.status_code == 429
