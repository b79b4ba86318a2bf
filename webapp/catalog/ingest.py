"""Ingest: the media processing of clips (decode once; derive wav, peaks, thumbnail and frames), and its queueing.

Processing runs on the RQ worker (`jobs.process_clip_job`), or in the import command's own process with
`--process-now`; either way through `ingest_clip`. Jobs are queued by dotted path and with a deterministic id per
clip, so recovery can ask Redis whether a clip's job still exists without importing the job module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import django_rq
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from pipeline.media import MediaError, process_clip
from webapp.catalog.models import Clip
from webapp.core import storage

logger = logging.getLogger(__name__)

JOB = "webapp.catalog.jobs.process_clip_job"


def ingest_clip(clip_id: int) -> str:
    """Decode a clip once and derive wav, peaks, thumbnail and frames. A bad file flags the clip; it is
    not a job failure, since retrying cannot fix the file."""
    clip = Clip.objects.select_related("dataset").get(pk=clip_id)
    if clip.status == Clip.Status.MISSING:
        return "missing"
    clip.mark_processing()
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
    info = art.info
    Clip.objects.filter(pk=clip.pk).update(
        status=Clip.Status.READY, error="", processed_at=timezone.now(),
        duration=info.duration, fps=info.fps, width=info.width, height=info.height,
        video_codec=info.video_codec or "", audio_codec=info.audio_codec or "", sample_rate=info.sample_rate,
        audio_path=f"{clip.derived_dir}/{art.audio}", peaks_path=f"{clip.derived_dir}/{art.peaks}",
        thumbnail_path=f"{clip.derived_dir}/{art.thumbnail}" if art.thumbnail else "",
        frame_paths=[f"{clip.derived_dir}/{p}" for p in art.frames], frame_times=list(art.frame_times),
    )
    return "ready"


def clip_job_id(clip_id: int) -> str:
    """Deterministic, so recovery can ask Redis whether a clip's job still exists."""
    return f"process-clip-{clip_id}"


def enqueue_clip_processing(clip_ids: list[int]) -> None:
    """Queue processing when the surrounding transaction commits, so workers never see missing rows."""
    queue = django_rq.get_queue("default")

    def _enqueue() -> None:
        for clip_id in clip_ids:
            queue.enqueue(JOB, clip_id, job_id=clip_job_id(clip_id), job_timeout=1800,
                          description=f"process clip {clip_id}")

    transaction.on_commit(_enqueue)


def reprocess(clip_ids: list[int]) -> None:
    """Clips back to pending and their jobs queued again, both or neither (an admin's retry, or recovery)."""
    with transaction.atomic():
        Clip.objects.filter(pk__in=clip_ids).update(status=Clip.Status.PENDING, error="")
        enqueue_clip_processing(clip_ids)


def requeue_stuck_clips(job_is_alive: Callable[[str], bool]) -> int:
    """Recovery: clips left pending/processing by a dead worker or a restarted Redis go back on the queue."""
    stuck = [pk for pk in Clip.objects.filter(status__in=[Clip.Status.PENDING, Clip.Status.PROCESSING])
             .values_list("pk", flat=True) if not job_is_alive(clip_job_id(pk))]
    if stuck:
        reprocess(stuck)
    return len(stuck)
