"""python manage.py recover_jobs: requeue clips and fail imports whose worker or queue vanished."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from webapp.catalog.recovery import recover


class Command(BaseCommand):
    help = "Requeue clips whose processing job is gone; mark imports whose worker died as failed."

    def handle(self, *args: Any, **opts: Any) -> None:
        report = recover()
        self.stdout.write(f"{report.clips_requeued} clips requeued, {report.imports_failed} imports marked failed")
