"""Create the roles, a demo admin and curator, and import the generated demo dataset (idempotent)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from pipeline.demo import build_demo
from webapp.core.roles import ensure_groups


class Command(BaseCommand):
    help = "Set up the embedded demo: groups, users admin/curator, and the synthetic AVQA demo dataset."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password-file", type=Path, default=settings.VAR_DIR / "demo_password")
        parser.add_argument("--process-now", action="store_true", help="Process clips here, not on the worker.")

    def handle(self, *args: Any, **opts: Any) -> None:
        curators, admins = ensure_groups()
        password, fresh = self._password(opts["password_file"])
        users = get_user_model()
        for username, group, staff in (("admin", admins, True), ("curator", curators, False)):
            user, created = users.objects.get_or_create(username=username, defaults={"is_staff": staff})
            if created or fresh:  # a new password file means nobody knows the old password
                user.set_password(password)
                user.is_superuser = staff
                user.save()
            user.groups.add(group)
        demo_dir = build_demo(settings.VAR_DIR / "demo")
        annotations = demo_dir / "demo_avqa.json"
        call_command(
            "import_avqa", str(annotations), videos=str(demo_dir / "videos"), dataset="Demo (synthetic AVQA)",
            split="train", process_now=opts["process_now"], stdout=self.stdout, stderr=self.stderr,
        )
        self.stdout.write(f"Log in as admin or curator with password: {password}")

    def _password(self, path: Path) -> tuple[str, bool]:
        if path.exists():
            return path.read_text().strip(), False
        password = secrets.token_urlsafe(12)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(password + "\n")
        path.chmod(0o600)
        return password, True
