"""python manage.py recover_jobs: requeue clips and fail runs whose worker or queue vanished."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from webapp.core.recovery import recover


class Command(BaseCommand):
    help = "Requeue clips whose processing job is gone; mark runs whose worker died as failed (resumable)."

    def handle(self, *args: Any, **opts: Any) -> None:
        report = recover()
        self.stdout.write(f"{report.clips_requeued} clips requeued, {report.runs_failed} runs marked failed")
