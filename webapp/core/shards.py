"""A run split into shard jobs, so any number of workers on any machines carry one run out together.

One RQ job per run holds a run to one GPU (AVQA × K=8 with a 7B teacher is ~88 GPU-hours). A run with more questions
than `settings.RUN_SHARD_QUESTIONS` is cut at launch into shards: half-open question-id ranges [lo, hi) over its
questions in id order, one job each on the run's queue. The run keeps its life cycle; each shard has its own status,
progress and attempt number, which fences its writes as `Run.attempt` fences a whole run's. So:

- progress: the run's is the sum of its shards' (rolled up from ~30 rows, not counted from the chains);
- cancel: the run and its unfinished shards are cancelled; a running shard stops at its next progress report;
- a failed or killed shard fails the run while the others may finish; resume queues only the shards not succeeded
  whose job is not alive (failed, cancelled, or its job dead or gone), each as a new attempt (a stale job's writes
  are refused) that skips what is stored in its own range; a shard whose job is still at work is left to it;
- the last shard to succeed closes the run with one conditional UPDATE (still running, no shard unfinished), so what
  follows a run's success (chained validation, verdicts of record) happens exactly once.

A run at or under the setting has no shards: one job, as before.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

from django.conf import settings
from django.db import models, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from webapp.core.models import ACTIVE_STATUSES, Run, RunStatus, Superseded, Tracked
from webapp.core.queueing import live_jobs

logger = logging.getLogger(__name__)

ROLL_UP_EVERY_S = 1.0  # a shard adds its progress to the run's at most this often (and always when it ends)


def plan_ranges(units: Sequence[tuple[int, int]], size: int) -> list[tuple[int, int, int]]:
    """Cut (question id, units of work) pairs, in id order, into ranges of `size` questions: (lo, hi, units) with hi
    exclusive; consecutive ranges share their bound, so every id, even one added later in a gap, is in exactly one.

    >>> plan_ranges([(3, 1), (5, 2), (9, 1), (12, 4), (20, 1)], 2)
    [(3, 9, 3), (9, 20, 5), (20, 21, 1)]
    >>> plan_ranges([], 2)
    []
    """
    chunks = [units[i:i + size] for i in range(0, len(units), size)]
    return [(chunk[0][0], nxt[0][0] if nxt else chunk[-1][0] + 1, sum(n for _, n in chunk))
            for chunk, nxt in zip(chunks, [*chunks[1:], None], strict=True)]


class Shard(Tracked):
    """One question range of a run (the concrete model adds `run`, a foreign key with related_name "shards")."""

    index = models.PositiveIntegerField()
    lo = models.BigIntegerField(help_text="The first question id of the range.")
    hi = models.BigIntegerField(help_text="The question id after the range (exclusive).")
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid of the latest attempt's worker.")

    run: Run
    job_path: ClassVar[str] = ""

    class Meta:
        abstract = True
        ordering = ["index"]

    def __str__(self) -> str:
        return f"shard {self.index} of {self.run}"

    def in_range(self, field: str) -> dict[str, int]:
        """Filter arguments that keep a query to this shard's questions (`field`: the question id's path)."""
        return {f"{field}__gte": self.lo, f"{field}__lt": self.hi}

    def carry_out(self, attempt: int, work: Callable[[], str], job_id: str = "") -> str:
        """A shard job's frame: claim the shard as `attempt`, start the run if it is the first, do the work, and end
        quietly once superseded. A cancelled run's shard does not start."""
        if not self.mark_running(job_id, attempt=attempt):
            return f"not started: {self} is {self.status} at attempt {self.attempt} (this job is attempt {attempt})"
        type(self).objects.filter(pk=self.pk).update(worker=f"{socket.gethostname()}:{os.getpid()}")
        run = self.run
        type(run).objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(
            status=RunStatus.RUNNING, started_at=timezone.now(), finished_at=None, error="")
        run.refresh_from_db(fields=["status", "attempt", "started_at", "finished_at", "error"])
        if run.status == RunStatus.CANCELLED:
            self.mark_cancelled()
            return "cancelled"
        run.note_worker()
        try:
            return work()
        except Superseded as exc:
            logger.info("shard job stopped: %s", exc)
            return "superseded"

    def mark_failed(self, exc: BaseException | str) -> bool:
        """The shard fails, and so does its run (resumable); the other shards may still finish."""
        text = exc if isinstance(exc, str) else "".join(traceback.format_exception(exc))
        failed = super().mark_failed(text)
        if failed:
            # The run at its current attempt: a resume that left this shard's live job at work raised it since.
            self.run.refresh_from_db(fields=["attempt"])
            self.run.mark_failed(f"shard {self.index} (questions {self.lo}–{self.hi - 1}) failed: {text}")
            roll_up(self.run)
        return failed

    @contextmanager
    def closing_run(self, what: str) -> Iterator[None]:
        """Around the work of the shard that found every other one done and closes the run (joins the shards'
        results, settles the run's record). If that fails, this shard goes back from succeeded to failed and its
        run fails, so a resume queues this shard again and it closes the run once more (the run used to stay
        `running`, every shard succeeded, nothing left for a resume to queue)."""
        try:
            yield
        except Superseded:
            raise
        except Exception as exc:
            text = f"{what}: " + "".join(traceback.format_exception(exc))
            if type(self).objects.filter(pk=self.pk, attempt=self.attempt, status=RunStatus.SUCCEEDED).update(
                    status=RunStatus.FAILED, error=text, finished_at=timezone.now()):
                self.status = RunStatus.FAILED
                self.run.refresh_from_db(fields=["attempt"])
                self.run.mark_failed(f"shard {self.index} (questions {self.lo}–{self.hi - 1}): {text}")
                roll_up(self.run)
            raise

    def should_stop(self) -> bool:
        """Polled between batches: True once the run was cancelled or this shard left `running` (recovery failed
        it); raises `Superseded` once a newer attempt owns the shard. A failed run's shards go on."""
        row = type(self).objects.filter(pk=self.pk).values_list("attempt", "status").first()
        if row is None or row[0] != self.attempt:
            raise Superseded(f"{self}: attempt {self.attempt} was superseded")
        run_status = type(self.run).objects.values_list("status", flat=True).get(pk=self.run.pk)
        return row[1] != RunStatus.RUNNING or run_status == RunStatus.CANCELLED

    def report_progress(self, done: int, total: int, metrics: dict[str, Any] | None = None) -> None:
        super().report_progress(done, total, metrics)
        now = time.monotonic()
        if now - getattr(self, "_rolled_up", 0.0) >= ROLL_UP_EVERY_S:
            self._rolled_up = now
            roll_up(self.run)


def _merge(metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's metrics from its shards': counts add up; rates and means are averaged, so a rate stays per worker
    (what the launch form's estimate per worker class reads), however many workers ran; other values are left out."""
    merged: dict[str, Any] = {}
    for m in metrics:
        for key, value in m.items():
            if isinstance(value, dict):
                inner = merged.setdefault(key, {})
                for k, v in value.items():
                    inner[k] = inner.get(k, 0) + v
            elif isinstance(value, int | float) and not key.endswith(("_per_s", "_mean")):
                merged[key] = merged.get(key, 0) + value
    for key in {k for m in metrics for k in m if k.endswith(("_per_s", "_mean"))}:
        values = [m[key] for m in metrics if key in m]
        merged[key] = round(sum(values) / len(values), 3)
    return merged


def roll_up(run: Any) -> None:
    """Store the sum of the shards' progress on the run: one read of its shard rows, one write."""
    shards = run.shard_set()
    rows = list(shards.values_list("status", "progress_done", "progress_total", "progress_metrics"))
    done, total = sum(r[1] for r in rows), sum(r[2] for r in rows)
    metrics = {**_merge([r[3] for r in rows]), "shards": len(rows),
               "shards_done": sum(r[0] == RunStatus.SUCCEEDED for r in rows)}
    type(run).objects.filter(pk=run.pk).update(progress_done=done, progress_total=total, progress_metrics=metrics)
    run.progress_done, run.progress_total, run.progress_metrics = done, total, metrics


class Sharded:
    """Mixed into a kind of run that can be split (before `Run`): it says over what, and how to make a shard."""

    def shard_units(self) -> list[tuple[int, int]] | None:
        """(question id, units of work on it) in id order, to cut into shards; None: this run is never split."""
        raise NotImplementedError

    def shard_set(self) -> models.QuerySet[Any]:
        """This run's shards (none: it runs as one job)."""
        raise NotImplementedError

    def new_shard(self, index: int, lo: int, hi: int, units: int) -> Shard:
        """An unsaved shard of this run covering question ids [lo, hi), with `units` of work planned."""
        raise NotImplementedError

    def queue_jobs(self) -> None:
        """A run with shards queues a new attempt of each one not succeeded (its run's attempt just went up); a new
        run with more questions than the setting is planned into shards first; any other run queues its one job."""
        run: Any = self
        shards = self.shard_set()
        if not shards.exists():
            units = self.shard_units()
            if units is None or len(units) <= settings.RUN_SHARD_QUESTIONS:
                super().queue_jobs()  # type: ignore[misc]
                return
            ranges = plan_ranges(units, settings.RUN_SHARD_QUESTIONS)
            shards.model.objects.bulk_create([self.new_shard(i, *bounds) for i, bounds in enumerate(ranges)])
            logger.info("%s split into %s shards", self, len(ranges))
        type(run).objects.filter(pk=run.pk).update(rq_job_id="")  # recovery asks about each shard's job instead
        run.rq_job_id = ""
        pending = list(shards.exclude(status=RunStatus.SUCCEEDED).order_by("index"))
        at_work = _at_work(run.job_queue(), pending)
        for shard in pending:
            if shard.pk in at_work:
                continue  # its job is alive: a new attempt would supersede it and redo what it has done
            shard.attempt += 1
            type(shard).objects.filter(pk=shard.pk).update(
                attempt=shard.attempt, status=RunStatus.QUEUED, error="", started_at=None, finished_at=None)
            shard.status, shard.run = RunStatus.QUEUED, run
            run.submit(shard, shard.job_path, f"{run.job_id()}-s{shard.index}-a{shard.attempt}",
                       f"{run.job_description() or run} shard {shard.index}")
        if any(s.status == RunStatus.RUNNING for s in pending if s.pk in at_work):
            type(run).objects.filter(pk=run.pk, status=RunStatus.QUEUED).update(status=RunStatus.RUNNING)
            run.status = RunStatus.RUNNING  # a shard is at work: the run is running, and its last shard closes it

    def mark_cancelled(self) -> bool:
        """Cancel the run and its unfinished shards; a running shard's job stops at its next progress report."""
        cancelled = super().mark_cancelled()  # type: ignore[misc]
        if cancelled:
            self.shard_set().filter(status__in=ACTIVE_STATUSES).update(
                status=RunStatus.CANCELLED, finished_at=timezone.now())
        return cancelled


def _at_work(queue_name: str, pending: list[Shard]) -> set[int]:
    """The ids of the queued or running shards whose job is alive (webapp/core/queueing.py, live_jobs): a resume
    leaves them to it. A dead one (its worker killed, its heartbeat expired, its job gone) is queued again."""
    active = [s for s in pending if s.status in ACTIVE_STATUSES and s.rq_job_id]
    alive = live_jobs(queue_name, [s.rq_job_id for s in active])
    return {s.pk for s in active if s.rq_job_id in alive}


def close(run: Any, settle: Callable[[], object] | None = None) -> bool:
    """Mark the run succeeded if it is running and no shard is unfinished, with `settle` in the same transaction.
    One conditional UPDATE: of shards ending together, exactly one closes the run (the others find it closed)."""
    shard_model = run.shard_set().model
    unfinished = shard_model.objects.filter(run=OuterRef("pk")).exclude(status=RunStatus.SUCCEEDED)
    with transaction.atomic():
        closed = type(run).objects.filter(pk=run.pk, status=RunStatus.RUNNING).exclude(Exists(unfinished)).update(
            status=RunStatus.SUCCEEDED, finished_at=timezone.now())
        if closed and settle is not None:
            settle()
    roll_up(run)
    if closed:
        run.status = RunStatus.SUCCEEDED
    return bool(closed)


def active(run: Run) -> list[Shard]:
    """The run's queued or running shards that have a job (recovery asks Redis about each)."""
    if not isinstance(run, Sharded):
        return []
    return list(run.shard_set().filter(status__in=ACTIVE_STATUSES).exclude(rq_job_id="").select_related("run"))
