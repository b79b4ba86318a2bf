"""The run life cycle shared by every background job (imports, generation, training, snapshots).

Status changes go through these methods, which update with a `status__in` guard, so a cancel that
races a worker's success can never be overwritten and a stale object never resurrects a finished run.
"""

from __future__ import annotations

import traceback
import uuid
from typing import Any, ClassVar

import django_rq
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class Run(models.Model):
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    progress_metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    rq_job_id = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # The RQ job that carries the run out, named by dotted path ("package.module.function"): the worker imports
    # it, so the modules that launch runs never import the jobs (jobs import them, never the other way round).
    job_path: ClassVar[str] = ""
    job_timeout: ClassVar[int] = 24 * 3600

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def progress_percent(self) -> int:
        if not self.progress_total:
            return 100 if self.status == RunStatus.SUCCEEDED else 0
        return min(100, round(100 * self.progress_done / self.progress_total))

    @property
    def progress_label(self) -> str:
        return f"{self.progress_done} / {self.progress_total}" if self.progress_total else self.get_status_display()

    def _transition(self, allowed: tuple[str, ...], **fields: Any) -> bool:
        updated = type(self).objects.filter(pk=self.pk, status__in=allowed).update(**fields)
        if updated:
            for name, value in fields.items():
                setattr(self, name, value)
        return bool(updated)

    def mark_running(self, job_id: str = "") -> bool:
        return self._transition(
            (RunStatus.QUEUED, RunStatus.FAILED), status=RunStatus.RUNNING, started_at=timezone.now(),
            finished_at=None, error="", rq_job_id=job_id or self.rq_job_id,
        )

    def mark_succeeded(self) -> bool:
        return self._transition(
            (RunStatus.RUNNING,), status=RunStatus.SUCCEEDED, finished_at=timezone.now()
        )

    def mark_failed(self, exc: BaseException | str) -> bool:
        text = exc if isinstance(exc, str) else "".join(traceback.format_exception(exc))
        return self._transition(ACTIVE_STATUSES, status=RunStatus.FAILED, finished_at=timezone.now(), error=text)

    def mark_cancelled(self) -> bool:
        return self._transition(ACTIVE_STATUSES, status=RunStatus.CANCELLED, finished_at=timezone.now())

    def requeue(self) -> bool:
        """A failed or cancelled run goes back to the queue; its job skips (or resumes from) the work stored."""
        return self._transition((RunStatus.FAILED, RunStatus.CANCELLED), status=RunStatus.QUEUED,
                                finished_at=None, error="")

    def is_cancelled(self) -> bool:
        """Read from the database, not this object: a job polls it between batches to see an admin's cancel."""
        return type(self).objects.filter(pk=self.pk, status=RunStatus.CANCELLED).exists()

    # --- queueing: each kind of run says which job, queue and job id it gets ----------------------------------
    def job_name(self) -> str:
        """The dotted path of the job to run; a kind of run with several jobs chooses by its fields."""
        return self.job_path

    def job_queue(self) -> str:
        return "default"

    def job_id(self) -> str:
        """Unique per attempt by default, so a resumed run's job never collides with the dead one's."""
        return f"{self._meta.model_name}-{self.pk}-{uuid.uuid4().hex[:8]}"

    def job_description(self) -> str | None:
        return str(self)

    def enqueue(self) -> None:
        """Queue the run's job when the transaction commits (a worker never sees a missing row); the job id is
        stored first so recovery can ask Redis whether the job still exists."""
        job_id = self.job_id()
        type(self).objects.filter(pk=self.pk).update(rq_job_id=job_id)
        self.rq_job_id = job_id
        queue = django_rq.get_queue(self.job_queue())
        func, run_id, timeout, description = self.job_name(), self.pk, self.job_timeout, self.job_description()
        options: dict[str, Any] = {"job_id": job_id, "job_timeout": timeout}
        if description is not None:
            options["description"] = description
        transaction.on_commit(lambda: queue.enqueue(func, run_id, **options))

    def resume(self) -> bool:
        """Requeue a failed or cancelled run and queue its job again, both or neither."""
        with transaction.atomic():
            if not self.requeue():
                return False
            self.enqueue()
        return True

    def report_progress(self, done: int, total: int, metrics: dict[str, Any] | None = None) -> None:
        """Store progress on the row: the UI reads the database only, never RQ."""
        fields: dict[str, Any] = {"progress_done": done, "progress_total": total}
        if metrics:
            fields["progress_metrics"] = {**self.progress_metrics, **metrics}
        type(self).objects.filter(pk=self.pk).update(**fields)
        for name, value in fields.items():
            setattr(self, name, value)
