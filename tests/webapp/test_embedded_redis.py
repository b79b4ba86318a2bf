"""The embedded Redis requires a password kept like the secret key, and every client of the app sends it."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import psutil
import pytest
import redis
from django.conf import settings

from webapp.core import embedded_redis


def test_the_embedded_redis_refuses_a_client_without_the_password() -> None:
    url = urlparse(settings.RQ_QUEUES["default"]["URL"])  # the server tests/settings.py started, as run.sh does
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(host=url.hostname, port=url.port, socket_timeout=2).ping()
    assert redis.Redis.from_url(settings.RQ_QUEUES["default"]["URL"]).ping()


def test_the_password_is_owner_only_kept_across_restarts_and_never_on_a_command_line(tmp_path: Path) -> None:
    password_file = tmp_path / "redis_password"
    url, proc = embedded_redis.start(embedded_redis.free_port(), tmp_path / "redis", password_file=password_file)
    try:
        password = password_file.read_text().strip()
        assert password_file.stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "redis" / "redis.conf").stat().st_mode & 0o777 == 0o600
        assert urlparse(url).password == password
        assert password not in " ".join(psutil.Process(proc.pid).cmdline())
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    url_again, proc = embedded_redis.start(urlparse(url).port, tmp_path / "redis", password_file=password_file)
    try:
        assert url_again == url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _wait_until_it_answers(client: redis.Redis) -> None:
    for _ in range(200):
        try:
            client.ping()
            return
        except redis.ConnectionError:
            time.sleep(0.05)
    raise AssertionError("the plain redis-server never answered")


def test_it_will_not_use_a_redis_already_on_its_port_that_needs_no_password(tmp_path: Path) -> None:
    port = embedded_redis.free_port()
    open_server = subprocess.Popen([str(embedded_redis.server_binary()), "--port", str(port), "--bind", "127.0.0.1",
                                    "--save", "", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        _wait_until_it_answers(redis.Redis(port=port))
        with pytest.raises(RuntimeError, match="without the password"):
            embedded_redis.start(port, tmp_path / "redis", password_file=tmp_path / "redis_password")
    finally:
        open_server.terminate()
        open_server.wait(timeout=10)
