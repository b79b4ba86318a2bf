"""Create the roles, a demo admin and curator, and import the generated demo datasets and chains (idempotent).

Each user gets a password of their own, kept in a 0600 file under VAR_DIR: with one shared password a curator could
log in as the superuser.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from pipeline.demo import build_demo
from webapp.core.roles import ensure_groups
from webapp.core.secret_files import write_secret


class Command(BaseCommand):
    help = "Set up the embedded demo: groups, users admin/curator, and the synthetic AVQA demo dataset."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password-dir", type=Path, default=None,
                            help="Where <user>_password files live (default: VAR_DIR).")
        parser.add_argument("--process-now", action="store_true", help="Process clips here, not on the worker.")

    def handle(self, *args: Any, **opts: Any) -> None:
        curators, admins = ensure_groups()
        folder = opts["password_dir"] or settings.VAR_DIR
        users = get_user_model()
        passwords = {}
        for username, group, staff in (("admin", admins, True), ("curator", curators, False)):
            password, fresh = write_secret(folder / f"{username}_password", nbytes=12)
            passwords[username] = password
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
        # Clips the tagger recognises and hand-written chains about them, validated: the review queue's first work.
        call_command("bootstrap_demo_sounds", stdout=self.stdout, stderr=self.stderr)
        # A task the tiny student really learns, with accepted reference chains: training shows a real gain. Its 356
        # one-second clips are processed here (~30 ms each, once): queued, they would hold up the demo's validation.
        call_command("install_demo_task", admin="admin", process_now=True, stdout=self.stdout, stderr=self.stderr)
        for username, password in passwords.items():
            self.stdout.write(f"Log in as {username} with password: {password}  ({folder / f'{username}_password'})")
