"""Read-side helpers for the catalog pages (counts, progress, waveform outline)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db.models import Count, Q, QuerySet

from webapp.catalog.models import Clip, Dataset
from webapp.core import storage


@dataclass(frozen=True)
class ClipProgress:
    total: int
    ready: int
    pending: int
    processing: int
    failed: int
    missing: int

    @property
    def done(self) -> int:
        return self.ready + self.failed

    @property
    def usable_total(self) -> int:
        return self.total - self.missing

    @property
    def percent(self) -> int:
        return 100 if not self.usable_total else round(100 * self.done / self.usable_total)

    @property
    def label(self) -> str:
        return f"{self.ready} of {self.usable_total} ready"

    @property
    def active(self) -> bool:
        return bool(self.pending or self.processing)


def datasets_with_counts() -> QuerySet[Dataset]:
    s = Clip.Status
    return Dataset.objects.annotate(
        n_questions=Count("questions", distinct=True),
        n_clips=Count("clips", distinct=True),
        n_ready=Count("clips", filter=Q(clips__status=s.READY), distinct=True),
        n_pending=Count("clips", filter=Q(clips__status=s.PENDING), distinct=True),
        n_processing=Count("clips", filter=Q(clips__status=s.PROCESSING), distinct=True),
        n_failed=Count("clips", filter=Q(clips__status=s.FAILED), distinct=True),
        n_missing=Count("clips", filter=Q(clips__status=s.MISSING), distinct=True),
    ).order_by("name")


def progress_of(dataset: Dataset) -> ClipProgress:
    return ClipProgress(
        total=dataset.n_clips, ready=dataset.n_ready, pending=dataset.n_pending,  # type: ignore[attr-defined]
        processing=dataset.n_processing, failed=dataset.n_failed, missing=dataset.n_missing,  # type: ignore[attr-defined]
    )


def waveform_path(clip: Clip, width: int = 1000, height: int = 100) -> str:
    """An SVG path of the clip's peaks, mirrored around the centre line, drawn server-side so the
    question page shows the sound without decoding audio in the browser."""
    if not clip.peaks_path:
        return ""
    try:
        peaks = json.loads(storage.resolve(clip.peaks_path).read_text())["data"]
    except (OSError, ValueError, KeyError, storage.UnsafePath):
        return ""
    if not peaks:
        return ""
    buckets = min(width, len(peaks))
    step = len(peaks) / buckets
    mid = height / 2
    tops = []
    for i in range(buckets):
        chunk = peaks[int(i * step): max(int((i + 1) * step), int(i * step) + 1)]
        amp = max(chunk) if chunk else 0.0
        x = round(i * width / buckets, 1)
        tops.append((x, round(mid - amp * mid, 1), round(mid + amp * mid, 1)))
    upper = " ".join(f"L{x},{y}" for x, y, _ in tops)
    lower = " ".join(f"L{x},{y}" for x, _, y in reversed(tops))
    return f"M0,{mid} {upper} L{width},{mid} {lower} Z"
