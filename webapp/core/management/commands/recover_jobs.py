"""python manage.py recover_jobs: requeue clips and fail runs whose worker or queue vanished."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from webapp.core.queueing import QueueUnreachable
from webapp.core.recovery import recover


class Command(BaseCommand):
    help = "Requeue clips whose processing job is gone; mark runs whose worker died as failed (resumable)."

    def handle(self, *args: Any, **opts: Any) -> None:
        try:
            report = recover()
        except QueueUnreachable as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{report.clips_requeued} clips requeued, {report.runs_failed} runs marked failed")
