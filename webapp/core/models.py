"""The run life cycle shared by every background job (imports, generation, training, snapshots).

Status changes go through these methods, which update with a `status__in` guard, so a cancel that
races a worker's success can never be overwritten and a stale object never resurrects a finished run.

Every queued job is one *attempt* of its run, numbered by `Run.attempt` (a fencing token): the job gets the
number it was queued with, and every status change, progress report and fenced write of that job checks it.
A cancel followed by a resume while the old job still runs, a resume after Redis lost the job, or an old job
requeued from the RQ dashboard therefore cannot act on the run: the superseded attempt raises `Superseded`
at its next check and stops without writing.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import django_rq
from django.conf import settings
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from webapp.core import queueing

logger = logging.getLogger(__name__)

class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class Superseded(Exception):
    """This attempt no longer owns its run (a newer attempt was queued, or the run left `running`): stop, write
    nothing more. Jobs catch it and end quietly: the run's status belongs to whoever superseded them."""


class Tracked(models.Model):
    """What a run and a shard of a run share: a status moved by guarded transitions, progress, and the attempt
    number that fences the writes of its jobs."""

    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    progress_metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    rq_job_id = models.CharField(max_length=64, blank=True)
    attempt = models.PositiveIntegerField(
        default=0, help_text="Fencing token: the number of the latest queued job; only that job may act on the run."
    )

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
        """Change the row only while it is in an allowed status *and* still at this object's attempt."""
        updated = type(self).objects.filter(pk=self.pk, status__in=allowed, attempt=self.attempt).update(**fields)
        if updated:
            for name, value in fields.items():
                setattr(self, name, value)
        return bool(updated)

    def mark_running(self, job_id: str = "", attempt: int | None = None) -> bool:
        """A job claims its run: only a queued run, and only the attempt it was queued as (default: the row's)."""
        loaded, self.attempt = self.attempt, self.attempt if attempt is None else attempt
        claimed = self._transition(
            (RunStatus.QUEUED,), status=RunStatus.RUNNING, started_at=timezone.now(),
            finished_at=None, error="", rq_job_id=job_id or self.rq_job_id,
        )
        if not claimed:
            self.attempt = loaded
        return claimed

    def mark_succeeded(self) -> bool:
        return self._transition(
            (RunStatus.RUNNING,), status=RunStatus.SUCCEEDED, finished_at=timezone.now()
        )

    def mark_failed(self, exc: BaseException | str) -> bool:
        text = exc if isinstance(exc, str) else "".join(traceback.format_exception(exc))
        return self._transition(ACTIVE_STATUSES, status=RunStatus.FAILED, finished_at=timezone.now(), error=text)

    def mark_cancelled(self) -> bool:
        return self._transition(ACTIVE_STATUSES, status=RunStatus.CANCELLED, finished_at=timezone.now())

    @contextmanager
    def fence(self) -> Iterator[None]:
        """A transaction in which this attempt's writes land only while it is still the run's latest attempt.

        The guard is an UPDATE of the run's own row, so it holds the row lock (PostgreSQL) or the write lock
        (SQLite) until commit: a resume waits for the batch, and a superseded attempt's batch never lands after
        it. A cancelled attempt may still write its last batch; `should_stop` is how it learns to stop.
        """
        with transaction.atomic():
            if not type(self).objects.filter(pk=self.pk, attempt=self.attempt).update(attempt=F("attempt")):
                raise Superseded(f"{self._meta.verbose_name} {self.pk}: attempt {self.attempt} was superseded")
            yield

    def report_progress(self, done: int, total: int, metrics: dict[str, Any] | None = None) -> None:
        """Store progress on the row (the UI reads the database only, never RQ); a superseded attempt's is dropped."""
        fields: dict[str, Any] = {"progress_done": done, "progress_total": total}
        if metrics:
            fields["progress_metrics"] = {**self.progress_metrics, **metrics}
        type(self).objects.filter(pk=self.pk, attempt=self.attempt).update(**fields)
        for name, value in fields.items():
            setattr(self, name, value)


class Run(Tracked):
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # The RQ job that carries the run out, named by dotted path ("package.module.function"): the worker imports
    # it, so the modules that launch runs never import the jobs (jobs import them, never the other way round).
    job_path: ClassVar[str] = ""
    job_timeout: ClassVar[int] = 24 * 3600

    class Meta:
        abstract = True

    def carry_out(self, attempt: int, work: Callable[[], str], job_id: str = "") -> str:
        """A job's frame: claim the run as `attempt`, do the work, and end quietly once superseded."""
        if not self.mark_running(job_id, attempt=attempt):
            return f"not started: {self} is {self.status} at attempt {self.attempt} (this job is attempt {attempt})"
        self.note_worker()
        try:
            return work()
        except Superseded as exc:
            logger.info("job stopped: %s", exc)
            return "superseded"

    def note_worker(self) -> None:
        """Name the machine class this attempt runs on, where the run keeps one: estimates are per class."""
        if any(f.name == "worker_class" for f in self._meta.concrete_fields):
            from pipeline.hardware import worker_class

            type(self).objects.filter(pk=self.pk).update(worker_class=worker_class())
            self.worker_class = worker_class()

    def requeue(self) -> bool:
        """A failed or cancelled run goes back to the queue; its job skips (or resumes from) the work stored."""
        return self._transition((RunStatus.FAILED, RunStatus.CANCELLED), status=RunStatus.QUEUED,
                                finished_at=None, error="")

    def should_stop(self) -> bool:
        """Polled by a job between batches, from the database: True once this attempt must stop (an admin's
        cancel, or recovery failed the run); raises `Superseded` once a newer attempt owns the run."""
        row = type(self).objects.filter(pk=self.pk).values_list("attempt", "status").first()
        if row is None or row[0] != self.attempt:
            raise Superseded(f"{self._meta.verbose_name} {self.pk}: attempt {self.attempt} was superseded")
        return row[1] != RunStatus.RUNNING

    # --- queueing: each kind of run says which job, queue and job id it gets ----------------------------------
    def job_name(self) -> str:
        """The dotted path of the job to run; a kind of run with several jobs chooses by its fields."""
        return self.job_path

    def job_queue(self) -> str:
        return "default"

    def job_id(self) -> str:
        """Unique per attempt, so a resumed run's job never collides with (or overwrites) the dead one's."""
        return f"{self._meta.model_name}-{self.pk}-a{self.attempt}-{uuid.uuid4().hex[:6]}"

    def job_description(self) -> str | None:
        return str(self)

    def enqueue(self) -> None:
        """Queue the run's job as a new attempt when the transaction commits (a worker never sees a missing row).

        The attempt number goes up first and travels with the job, which supersedes any earlier job of the run;
        the job id is stored so recovery can ask Redis whether the job still exists. Redis is checked first, inside
        the caller's transaction: unreachable, it raises QueueUnreachable and the launch or resume rolls back whole.
        """
        queueing.check_reachable(self.job_queue())
        type(self).objects.filter(pk=self.pk).update(attempt=F("attempt") + 1)
        self.attempt = type(self).objects.values_list("attempt", flat=True).get(pk=self.pk)
        self.queue_jobs()

    def queue_jobs(self) -> None:
        """The attempt's job (a run split into shards queues one per unfinished shard instead: shards.py)."""
        self.submit(self, self.job_name(), self.job_id(), self.job_description())

    def submit(self, target: Tracked, func: str, job_id: str, description: str | None) -> None:
        """Store `job_id` on `target` (this run, or one of its shards) and queue `func(target.pk, target.attempt)`
        on the run's queue when the transaction commits."""
        type(target).objects.filter(pk=target.pk).update(rq_job_id=job_id)
        target.rq_job_id = job_id
        queue = django_rq.get_queue(self.job_queue())
        args = (target.pk, target.attempt)
        options: dict[str, Any] = {"job_id": job_id, "job_timeout": self.job_timeout, **queueing.job_ttls()}
        if description is not None:
            options["description"] = description
        transaction.on_commit(lambda: queueing.enqueue_or_fail(target, queue, func, args, options))

    def resume(self) -> bool:
        """Requeue a failed or cancelled run and queue its job again, both or neither."""
        with transaction.atomic():
            if not self.requeue():
                return False
            self.enqueue()
        return True
