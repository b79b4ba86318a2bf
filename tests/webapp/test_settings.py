"""Settings come from the environment and fail loudly; production-like settings pass check --deploy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from webapp import env

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value", ["ture", "2", "maybe"])
def test_it_rejects_a_malformed_boolean(monkeypatch, value: str) -> None:
    monkeypatch.setenv("DEBUG", value)
    with pytest.raises(ImproperlyConfigured, match="DEBUG"):
        env.env_bool("DEBUG", False)


def test_it_reads_booleans_integers_lists(monkeypatch) -> None:
    monkeypatch.setenv("X_BOOL", "Yes")
    monkeypatch.setenv("X_INT", "12")
    monkeypatch.setenv("X_LIST", "a.example, b.example,")
    assert env.env_bool("X_BOOL", False) is True
    assert env.env_int("X_INT", 1, minimum=1) == 12
    assert env.env_list("X_LIST", []) == ["a.example", "b.example"]
    monkeypatch.setenv("X_INT", "twelve")
    with pytest.raises(ImproperlyConfigured, match="X_INT"):
        env.env_int("X_INT", 1)
    monkeypatch.setenv("X_INT", "0")
    with pytest.raises(ImproperlyConfigured, match=">= 1"):
        env.env_int("X_INT", 1, minimum=1)


def test_it_requires_absolute_storage_paths(monkeypatch) -> None:
    monkeypatch.setenv("MEDIA_ROOT", "relative/media")
    with pytest.raises(ImproperlyConfigured, match="absolute"):
        env.env_path("MEDIA_ROOT", Path("/tmp"))


@pytest.mark.parametrize("url", ["mysql://root@localhost/db", "not a url", "redis://x"])
def test_it_rejects_unsupported_database_urls(monkeypatch, url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        env.env_database("DATABASE_URL", "sqlite:////tmp/x.db")


def test_it_parses_postgres_and_sqlite_urls(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
    db = env.env_database("DATABASE_URL", "")
    assert db["ENGINE"] == "django.db.backends.postgresql" and db["NAME"] == "test" and db["PORT"] == 5432
    monkeypatch.delenv("DATABASE_URL")
    db = env.env_database("DATABASE_URL", "sqlite:////tmp/x.db")
    assert db["ENGINE"] == "django.db.backends.sqlite3" and db["NAME"] == "/tmp/x.db"


def test_it_rejects_a_non_redis_url(monkeypatch) -> None:
    monkeypatch.setenv("REDIS_URL", "http://127.0.0.1:6379")
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL"):
        env.env_redis_url("REDIS_URL", None)


def _manage(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    clean = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}  # none of the test settings
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env={**clean, **extra},
                          capture_output=True, text=True, timeout=120)


def test_it_refuses_to_start_without_a_secret_key_in_production() -> None:
    result = _manage("check", DEBUG="false")
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr


def _production(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """The settings docs/deployment.md gives for a team: PostgreSQL, a Redis server with the app's own user, a TLS
    proxy in front, DEBUG off and a real secret key."""
    return {"DEBUG": "false", "SECRET_KEY": "k" * 30 + "-Zq8#x!pL2@rT9$wE4%yU7^iO0&aS3*dF6",
            "ALLOWED_HOSTS": "studio.example.org", "CSRF_TRUSTED_ORIGINS": "https://studio.example.org",
            "BEHIND_TLS_PROXY": "1", "DATABASE_URL": "postgres://studio:secret@db.internal:5432/studio",
            "REDIS_URL": "redis://studio:secret@queue.internal:6379/0", "MEDIA_ROOT": str(tmp_path / "storage"),
            "SIGHTSOUND_VAR": str(tmp_path), **overrides}


def test_it_passes_the_deploy_checklist_with_production_settings(tmp_path: Path) -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **_production(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_the_deploy_checklist_flags_an_open_redis_and_an_unsaid_tls_proxy(tmp_path: Path) -> None:
    result = _manage("check", "--deploy", **_production(tmp_path, REDIS_URL="redis://queue.internal:6379/0",
                                                        BEHIND_TLS_PROXY=""))
    assert "sightsound.W001" in result.stderr and "sightsound.W002" in result.stderr, result.stderr
