"""Settings helpers that read the environment and fail loudly.

A typo in `DEBUG=ture` or a malformed `DATABASE_URL` must stop the process at start-up with a message
that names the variable, not surface later as a confusing runtime error.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value is None or value == "":
        if default is None:
            raise ImproperlyConfigured(f"{name} must be set")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true/false or 1/0")


def env_optional_bool(name: str) -> bool | None:
    """None when unset: for a setting whose absence means "not said", which a check can then point out."""
    raw = os.environ.get(name)
    return None if raw is None or raw == "" else env_bool(name, False)


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of {', '.join(choices)}")
    return value


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be >= {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_path(name: str, default: Path) -> Path:
    """An absolute path; relative values are refused because workers on other machines would disagree."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default.resolve()
    path = Path(raw).expanduser()
    if not path.is_absolute():
        raise ImproperlyConfigured(f"{name}={raw!r} must be an absolute path")
    return path


def env_database(name: str, default: str) -> dict[str, object]:
    """Parse `sqlite:///abs/path.db` or `postgres://user:pass@host:port/db` into a DATABASES entry."""
    import dj_database_url

    raw = os.environ.get(name) or default
    scheme = urlparse(raw).scheme
    if scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
        raise ImproperlyConfigured(f"{name}={raw!r}: unsupported scheme {scheme!r}; use sqlite:// or postgres://")
    try:
        config = dj_database_url.parse(raw, conn_max_age=60 if scheme != "sqlite" else 0)
    except Exception as exc:  # dj_database_url raises several types for malformed URLs
        raise ImproperlyConfigured(f"{name}={raw!r} is not a valid database URL: {exc}") from exc
    if scheme == "sqlite":
        config["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    else:  # a kept connection that PostgreSQL dropped (restart, failover, pg_terminate_backend) is replaced, not used
        config["CONN_HEALTH_CHECKS"] = True
    return dict(config)


def env_redis_url(name: str, default: str | None) -> str | None:
    raw = os.environ.get(name) or default
    if raw is None:
        return None
    if urlparse(raw).scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(f"{name}={raw!r} must be a redis://, rediss:// or unix:// URL")
    return raw
