"""The commands behind the README's run command: tiny models and the demo bootstrap."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory

from webapp.catalog.models import Clip, Question
from webapp.core.roles import is_admin, is_curator

pytestmark = pytest.mark.django_db


def test_it_builds_the_tiny_models_once(tmp_path: Path) -> None:
    out = io.StringIO()
    call_command("build_tiny_models", out=str(tmp_path), stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.split("\t")[0] for line in lines] == ["tiny-qwen2", "tiny-qwen2-audio", "tiny-qwen2_5-vl",
                                                      "tiny-qwen2-audio-2s"]
    assert all((tmp_path / name / "config.json").exists() for name in ("tiny-qwen2", "tiny-qwen2-audio"))
    before = (tmp_path / "tiny-qwen2" / "model.safetensors").stat().st_mtime_ns
    call_command("build_tiny_models", out=str(tmp_path), stdout=io.StringIO())
    assert (tmp_path / "tiny-qwen2" / "model.safetensors").stat().st_mtime_ns == before


def _authenticate(**credentials: str):  # type: ignore[no-untyped-def]
    return authenticate(RequestFactory().post("/login/"), **credentials)  # login throttling needs the request


@pytest.mark.one_database  # the demo's media and models, not SQL
def test_it_bootstraps_the_demo_with_users_and_playable_clips(settings, tmp_path: Path) -> None:
    settings.VAR_DIR = tmp_path
    out = io.StringIO()
    call_command("bootstrap_demo", process_now=True, stdout=out, stderr=io.StringIO())
    password = (tmp_path / "admin_password").read_text().strip()
    curator_password = (tmp_path / "curator_password").read_text().strip()
    assert f"admin with password: {password}" in out.getvalue() and curator_password in out.getvalue()
    admin, curator = _authenticate(username="admin", password=password), _authenticate(username="curator",
                                                                                      password=curator_password)
    assert is_admin(admin) and is_curator(curator) and not is_admin(curator)
    assert password != curator_password and _authenticate(username="admin", password=curator_password) is None
    assert {(tmp_path / f).stat().st_mode & 0o777 for f in ("admin_password", "curator_password")} == {0o600}
    assert Question.objects.filter(dataset__name="Demo (synthetic AVQA)").count() == 8
    assert set(Clip.objects.values_list("status", flat=True)) == {"ready"}
    call_command("bootstrap_demo", stdout=io.StringIO(), stderr=io.StringIO())  # a second start changes nothing
    assert Question.objects.filter(dataset__name="Demo (synthetic AVQA)").count() == 8
    assert _authenticate(username="admin", password=password) is not None


def test_it_keeps_generated_secrets_owner_only(tmp_path: Path) -> None:
    from webapp.core.secret_files import write_secret

    key, created = write_secret(tmp_path / "var" / "secret_key")
    assert created and len(key) >= 50 and (tmp_path / "var" / "secret_key").stat().st_mode & 0o777 == 0o600
    assert write_secret(tmp_path / "var" / "secret_key") == (key, False)  # kept across restarts
    old = tmp_path / "old_key"
    old.write_text("s3cret\n")
    old.chmod(0o644)  # what an older run.sh left behind
    assert write_secret(old) == ("s3cret", False) and old.stat().st_mode & 0o777 == 0o600
