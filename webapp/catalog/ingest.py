"""Ingest: the media processing of clips (decode once; derive wav, peaks, thumbnail and frames), and its queueing.

Processing runs on the RQ worker (`jobs.process_clip_job`), or in the import command's own process with
`--process-now`; either way through `ingest_clip`. Jobs are queued by dotted path with an id derived from the
clip and its attempt, so recovery can ask Redis whether a clip's job still exists without importing the job module.

One clip, one live job: each queueing bumps `Clip.attempt` (a fencing token) and the job carries it; only the
latest attempt may claim the clip and store results, so a job requeued from the RQ dashboard, or one left
running by a reprocess, writes nothing. A clip whose job is alive is not queued again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import django_rq
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from rq import Queue

from pipeline.media import MediaError, process_clip
from webapp.catalog.models import Clip
from webapp.core import queueing, storage
from webapp.core.failpoints import failpoint
from webapp.core.housekeeping import size
from webapp.core.queueing import REDIS_DOWN, WHAT_TO_DO, QueueUnreachable

logger = logging.getLogger(__name__)

JOB = "webapp.catalog.jobs.process_clip_job"
ENQUEUE_BATCH = 1000  # clip jobs written to Redis in one pipeline


def ingest_clip(clip_id: int, attempt: int | None = None) -> str:
    """Decode a clip once and derive wav, peaks, thumbnail and frames. A bad file flags the clip; it is
    not a job failure, since retrying cannot fix the file. `attempt` is the queued job's (None: the command's
    `--process-now`, which processes the clips it just imported)."""
    clip = Clip.objects.select_related("dataset").get(pk=clip_id)
    if clip.status == Clip.Status.MISSING:
        return "missing"
    if attempt is not None and attempt != clip.attempt or not clip.mark_processing():
        return f"superseded: clip {clip_id} is {clip.status} at attempt {clip.attempt} (this job: {attempt})"
    failpoint("clip.claimed")
    out_dir = storage.resolve(clip.derived_dir)
    try:
        art = process_clip(
            storage.resolve(clip.media_path), out_dir,
            n_frames=settings.INGEST_FRAMES, peaks_per_second=settings.INGEST_PEAKS_PER_SECOND,
            frame_max_side=settings.INGEST_FRAME_MAX_SIDE,
        )
    except MediaError as exc:
        clip.mark_failed(exc.reason)
        logger.warning("clip %s failed: %s", clip, exc.reason)
        return "failed"
    except Exception as exc:
        clip.mark_failed(f"processing crashed: {exc!r}")
        raise
    failpoint("clip.decoded")
    info = art.info
    stored = Clip.objects.filter(pk=clip.pk, attempt=clip.attempt, status=Clip.Status.PROCESSING).update(
        status=Clip.Status.READY, error="", processed_at=timezone.now(),
        duration=info.duration, fps=info.fps, width=info.width, height=info.height,
        video_codec=info.video_codec or "", audio_codec=info.audio_codec or "", sample_rate=info.sample_rate,
        audio_path=f"{clip.derived_dir}/{art.audio}", peaks_path=f"{clip.derived_dir}/{art.peaks}",
        thumbnail_path=f"{clip.derived_dir}/{art.thumbnail}" if art.thumbnail else "",
        frame_paths=[f"{clip.derived_dir}/{p}" for p in art.frames], frame_times=list(art.frame_times),
        derived_bytes=size(out_dir),  # the storage report sums it: walking 57k folders per view would not do
    )
    failpoint("clip.stored")
    return "ready" if stored else "superseded"


def clip_job_id(clip_id: int, attempt: int) -> str:
    """Derived from the clip and its attempt, so recovery can ask Redis whether a clip's job still exists."""
    return f"process-clip-{clip_id}-a{attempt}"


def enqueue_clip_processing(clip_ids: list[int]) -> None:
    """Queue processing as a new attempt of each clip when the surrounding transaction commits, so workers
    never see missing rows (and never an attempt number that was rolled back).

    Redis down raises QueueUnreachable (from the commit): the clips stay pending, which is exactly what
    `recover_jobs` looks for, so nothing is lost and the message says to run it once Redis is back."""
    queue = django_rq.get_queue("default")
    with transaction.atomic():
        Clip.objects.filter(pk__in=clip_ids).update(attempt=F("attempt") + 1)
        attempts = list(Clip.objects.filter(pk__in=clip_ids).order_by("pk").values_list("pk", "attempt"))

    def _enqueue() -> None:
        ttls = queueing.job_ttls()
        for start in range(0, len(attempts), ENQUEUE_BATCH):  # one Redis round trip per batch, not ~6 per clip
            batch = attempts[start:start + ENQUEUE_BATCH]
            try:
                queue.enqueue_many([
                    Queue.prepare_data(JOB, (clip_id, attempt), job_id=clip_job_id(clip_id, attempt), timeout=1800,
                                       description=f"process clip {clip_id}", **ttls)
                    for clip_id, attempt in batch])
            except REDIS_DOWN as exc:
                left = len(attempts) - start
                raise QueueUnreachable(f"queue unreachable: {left} clip{'s' if left != 1 else ''} left pending, "
                                       f"not queued for processing; {WHAT_TO_DO}") from exc

    transaction.on_commit(_enqueue)


def reprocess(clip_ids: list[int], job_is_alive: Callable[[str], bool] | None = None) -> list[int]:
    """Clips back to pending and their jobs queued again, both or neither (an admin's retry, or recovery).

    A clip whose current job is still alive (when `job_is_alive` is given) is left to it: two jobs on one clip
    would race on its files. Returns the ids queued.
    """
    with transaction.atomic():
        clips = Clip.objects.select_for_update().filter(pk__in=clip_ids).exclude(status=Clip.Status.MISSING)
        ids = [pk for pk, attempt, status in clips.values_list("pk", "attempt", "status")
               if job_is_alive is None or status not in (Clip.Status.PENDING, Clip.Status.PROCESSING)
               or not job_is_alive(clip_job_id(pk, attempt))]
        Clip.objects.filter(pk__in=ids).update(status=Clip.Status.PENDING, error="")
        enqueue_clip_processing(ids)
    return ids


def requeue_stuck_clips(job_is_alive: Callable[[str], bool]) -> int:
    """Recovery: clips left pending/processing by a dead worker or a restarted Redis go back on the queue."""
    stuck = [pk for pk, attempt in Clip.objects.filter(status__in=[Clip.Status.PENDING, Clip.Status.PROCESSING])
             .values_list("pk", "attempt") if not job_is_alive(clip_job_id(pk, attempt))]
    if stuck:
        reprocess(stuck)
    return len(stuck)
