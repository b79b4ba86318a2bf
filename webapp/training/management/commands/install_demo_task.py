"""python manage.py install_demo_task [--process-now]: the learnable demo task's dataset and accepted chains."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.core.roles import is_admin
from webapp.training.demo_task import install


class Command(BaseCommand):
    help = "Import the pitch-band demo task (train and test splits) and accept its reference chains as an admin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--admin", default="admin", help="The admin who accepts the reference chains.")
        parser.add_argument("--out", type=Path, default=None, help="Where the files go (default VAR_DIR/demo_task).")
        parser.add_argument("--process-now", action="store_true", help="Process clips here, not on the worker.")

    def handle(self, *args: Any, **opts: Any) -> None:
        admin = get_user_model().objects.filter(username=opts["admin"]).first()
        if admin is None or not is_admin(admin):
            raise CommandError(f"no admin named {opts['admin']!r}: run bootstrap_demo or createsuperuser first")
        dataset = install(admin, opts["out"] or settings.VAR_DIR / "demo_task", process_now=opts["process_now"],
                          stdout=self.stdout, stderr=self.stderr)
        self.stdout.write(f"{dataset.name}: ready to snapshot and train (docs/demo.md)")
