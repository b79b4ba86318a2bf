"""Import annotation files into Dataset / Clip / Question rows, row by row: the one front door for the import
commands and the upload form (the media processing that follows is `ingest`).

Why row by row: one bad row (an out-of-range answer, an undecodable video) must be reported with its
line and reason while every good row lands. Each row is applied in its own transaction, so a row is
either fully there (clip + question) or not at all. The file is read as a stream, twice: once to the end, so a
broken or over-long file is refused before any row lands, then row by row as the rows are applied; memory holds
one row, plus an id and a hash for each row seen. Re-running an import is a no-op: questions are
matched on (dataset, external id) and compared by content hash; a changed row is a reported conflict,
never a silent overwrite. A clip imported with its media missing is attached when a later import finds it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import DataError, IntegrityError, transaction
from django.utils.text import slugify

from pipeline.datasets import FORMATS, AnnotationFileError, TooManyRows, iter_rows, resolve_media
from pipeline.datasets.base import QuestionRecord
from pipeline.media import MediaError, probe
from pipeline.progress import ProgressFn
from webapp.catalog.models import Clip, Dataset, ImportRun, Question
from webapp.core import storage
from webapp.core.failpoints import failpoint
from webapp.core.models import Superseded

logger = logging.getLogger(__name__)



@dataclass
class ImportReport:
    created: int = 0
    unchanged: int = 0
    attached: int = 0
    duplicates: int = 0
    skipped: int = 0
    errors: list[dict[str, object]] = field(default_factory=list)
    warnings: list[dict[str, object]] = field(default_factory=list)
    clips_to_process: list[int] = field(default_factory=list)

    def error(self, row: int | None, external_id: str | None, reason: str) -> None:
        self.errors.append({"row": row, "id": external_id, "reason": reason})

    def lines(self) -> list[str]:
        return [format_error(e) for e in self.errors]


def format_error(error: dict[str, object]) -> str:
    where = f"row {error['row']}" if error.get("row") is not None else "file"
    if error.get("id") not in (None, ""):
        where += f" (id {error['id']})"
    return f"{where}: {error['reason']}"


class DatasetFormatMismatch(ValueError):
    pass


def check_dataset_format(name: str, source_format: str) -> Dataset | None:
    """The dataset of that name, if there is one; DatasetFormatMismatch if it holds another format's data."""
    dataset = Dataset.objects.filter(name=name).first()
    if dataset is not None and dataset.source_format != source_format:
        raise DatasetFormatMismatch(
            f"dataset {name!r} holds {dataset.get_source_format_display()} data; "
            f"choose another dataset name for {source_format} annotations"
        )
    return dataset


def get_or_create_dataset(name: str, source_format: str) -> Dataset:
    dataset = check_dataset_format(name, source_format)
    if dataset is None:
        slug = slugify(name) or "dataset"
        base, n = slug, 2
        while Dataset.objects.filter(slug=slug).exists():
            slug, n = f"{base}-{n}", n + 1
        return Dataset.objects.create(name=name, slug=slug, source_format=source_format)
    return dataset


def new_import_run(
    dataset: Dataset, *, source_name: str, split: str, media_dir: Path | None, allow_missing_media: bool,
    user: AbstractBaseUser | None = None, annotations_path: str = "",
) -> ImportRun:
    return ImportRun.objects.create(
        dataset=dataset, source_format=dataset.source_format, source_name=source_name, split=split,
        media_dir=str(media_dir) if media_dir else "", allow_missing_media=allow_missing_media,
        annotations_path=annotations_path, created_by=user,
    )


def queue_upload(dataset: Dataset, upload: UploadedFile, *, split: str, media_dir: Path | None,
                 allow_missing_media: bool, user: AbstractBaseUser | None) -> ImportRun:
    """Store an uploaded annotation file under the storage root and queue its import: the worker reads it there."""
    with transaction.atomic():
        run = new_import_run(dataset, source_name=upload.name or "", split=split, media_dir=media_dir,
                             allow_missing_media=allow_missing_media, user=user)
        relative = f"uploads/imports/{run.pk}.json"
        target = storage.resolve(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as fh:
            for chunk in upload.chunks():
                fh.write(chunk)
        ImportRun.objects.filter(pk=run.pk).update(annotations_path=relative)
        run.enqueue()
    return run


class _RowRejected(Exception):
    pass


class Importer:
    """Applies one parsed annotation file to one dataset."""

    def __init__(self, dataset: Dataset, *, split: str, media_dir: Path | None, allow_missing_media: bool) -> None:
        self.dataset = dataset
        self.fmt = FORMATS[dataset.source_format]
        self.split = split
        self.media_dir = media_dir
        self.allow_missing_media = allow_missing_media
        self._clips: dict[str, Clip] = {}
        self._fresh: set[str] = set()  # clips given media by this import: they need processing

    def run(self, path: Path, on_progress: ProgressFn | None = None) -> ImportReport:
        """Apply the file at `path`; AnnotationFileError (nothing imported) when it is unusable as a whole."""
        total = count_rows(path)
        report = ImportReport()
        existing = {
            external_id: (digest, clip_id, clip_status)
            for external_id, digest, clip_id, clip_status in Question.objects.filter(dataset=self.dataset)
            .values_list("external_id", "content_hash", "clip_id", "clip__status").iterator()
        }
        with path.open("rb") as fh:
            stream = self.fmt.stream(fh)
            for record in stream:
                try:
                    self._apply(record, existing.get(record.external_id), report)
                except _RowRejected as exc:
                    report.error(record.row, record.external_id, str(exc))
                if on_progress and record.row % 25 == 0:
                    on_progress(record.row, total, {})
        if on_progress:
            on_progress(total, total, {})
        report.duplicates, report.skipped = stream.duplicates, stream.skipped
        for err in stream.errors:
            report.error(err.row, err.external_id, err.reason)
        report.warnings = [{"row": w.row, "id": w.external_id, "reason": w.reason} for w in stream.warnings]
        report.errors.sort(key=lambda e: (e["row"] is not None, e["row"] or 0))
        return report

    def _apply(self, record: QuestionRecord, stored: tuple[str, int, str] | None, report: ImportReport) -> None:
        """`stored`: (content hash, clip id, clip status) of the question already imported under this id, if any."""
        digest = record.content_hash()
        if stored is not None:
            stored_digest, clip_id, clip_status = stored
            if stored_digest != digest:
                raise _RowRejected(
                    "conflicts with the question already imported under this id (different content); "
                    "not overwritten"
                )
            clip = Clip.objects.get(pk=clip_id) if clip_status == Clip.Status.MISSING else None
            if clip is not None and clip.status == Clip.Status.MISSING and self._attach(clip, record):
                report.attached += 1
                self._queue(clip, report)
            else:
                report.unchanged += 1
            return
        clip, clip_is_new = self._clip_for(record, report)
        try:
            with transaction.atomic():
                if clip.pk is None:
                    clip.save()
                Question.objects.create(
                    dataset=self.dataset, clip=clip, external_id=record.external_id, text=record.text,
                    choices=list(record.choices), answer_index=record.answer_index, answer_text=record.answer_text,
                    question_type=record.question_type, question_relation=record.question_relation,
                    category=record.category, sub_category=record.sub_category, difficulty=record.difficulty,
                    split=self.split, extra=dict(record.extra), content_hash=digest,
                )
        except (IntegrityError, DataError) as exc:  # a concurrent import won the race; a value the parser let by
            if clip_is_new:
                clip.pk = None
                self._discard_copy(clip)
            raise _RowRejected(f"could not be stored: {exc}") from exc
        self._clips[clip.name] = clip
        report.created += 1
        if clip.name in self._fresh:
            self._queue(clip, report)

    def _discard_copy(self, clip: Clip) -> None:
        """Remove the media copied for a clip whose row the database refused, unless a stored clip uses the file
        (a concurrent import of the same clip): nothing refused leaves an orphan under the storage root."""
        if clip.name in self._fresh:
            self._fresh.discard(clip.name)
            if not Clip.objects.filter(media_path=clip.media_path).exists():
                storage.resolve(clip.media_path).unlink(missing_ok=True)

    def _queue(self, clip: Clip, report: ImportReport) -> None:
        if clip.pk not in report.clips_to_process:
            report.clips_to_process.append(clip.pk)

    def _clip_for(self, record: QuestionRecord, report: ImportReport) -> tuple[Clip, bool]:
        """The clip a record points at: cached, existing in the database, or a new unsaved one."""
        if record.media_name in self._clips:
            return self._clips[record.media_name], False
        clip = Clip.objects.filter(dataset=self.dataset, name=record.media_name).first()
        if clip is not None:
            self._clips[clip.name] = clip
            if clip.status == Clip.Status.MISSING and self._attach(clip, record):
                report.attached += 1
                self._queue(clip, report)
            return clip, False
        clip = Clip(dataset=self.dataset, name=record.media_name, kind=record.media_kind,
                    source_media_id=record.source_media_id)
        source = self._find_media(record)
        if source is None:
            clip.status = Clip.Status.MISSING
            clip.error = "media not found at import"
        else:
            self._store(clip, source)
            self._fresh.add(clip.name)
        return clip, True

    def _find_media(self, record: QuestionRecord) -> Path | None:
        source = resolve_media(self.fmt, self.media_dir, record) if self.media_dir else None
        if source is None and not self.allow_missing_media:
            tried = ", ".join(self.fmt.media_candidates(record))
            where = f"under {self.media_dir}" if self.media_dir else "(no media directory given)"
            raise _RowRejected(f"media file not found: tried {tried} {where}")
        return source

    def _store(self, clip: Clip, source: Path) -> None:
        """Probe (rejects undecodable files and videos without sound), then place under the storage root."""
        try:
            info = probe(source, require_audio=True, check_type=True)
        except MediaError as exc:
            raise _RowRejected(f"{source.name}: {exc.reason}") from exc
        relative = f"media/{self.dataset.slug}/{clip.name}{source.suffix.lower()}"
        stored = storage.store_copy(source, relative)
        clip.media_path = relative
        clip.media_sha256 = storage.sha256_file(stored)
        clip.size_bytes = stored.stat().st_size
        clip.status = Clip.Status.PENDING
        clip.error = ""
        clip.duration, clip.fps = info.duration, info.fps
        clip.width, clip.height = info.width, info.height
        clip.video_codec, clip.audio_codec = info.video_codec or "", info.audio_codec or ""
        clip.sample_rate = info.sample_rate

    def _attach(self, clip: Clip, record: QuestionRecord) -> bool:
        """Give a clip imported without media its file, if this import can find it."""
        source = resolve_media(self.fmt, self.media_dir, record) if self.media_dir else None
        if source is None:
            return False
        self._store(clip, source)
        clip.save()
        return True


def count_rows(path: Path) -> int:
    """Read the whole file once: a JSON list within IMPORT_MAX_ROWS, or AnnotationFileError before any row lands."""
    try:
        with path.open("rb") as fh, _row_cap():
            return sum(1 for _ in iter_rows(fh, max_rows=settings.IMPORT_MAX_ROWS))
    except OSError as exc:
        raise AnnotationFileError(f"cannot read {path.name}: {exc.strerror or exc}") from exc


@contextmanager
def _row_cap() -> Iterator[None]:
    try:
        yield
    except TooManyRows as exc:
        raise AnnotationFileError(
            f"{exc}, more than one import takes (IMPORT_MAX_ROWS = {exc.limit}): split the file, or raise the setting"
        ) from exc


PREFLIGHT_EXAMPLES = 3


def preflight(fh: BinaryIO, source_format: str, *, media_dir: Path | None, allow_missing_media: bool) -> str | None:
    """Why this file would import nothing at all, or None when at least one row would land.

    Run before a dataset or an import run is created, so that a file that is broken (AnnotationFileError, raised
    with line, column and what was expected) or whose every row fails (wrong format, wrong media folder) leaves
    no empty dataset behind. Media is only looked up here (a stat per row); probing it is the import's work.
    """
    fmt = FORMATS[source_format]
    stream = fmt.stream(fh, max_rows=settings.IMPORT_MAX_ROWS)
    rows = usable = 0
    missing: list[dict[str, object]] = []
    with _row_cap():
        for record in stream:
            rows += 1
            if allow_missing_media or (media_dir is not None and resolve_media(fmt, media_dir, record)):
                usable += 1
            elif len(missing) < PREFLIGHT_EXAMPLES:
                tried = ", ".join(fmt.media_candidates(record))
                missing.append({"row": record.row, "id": record.external_id,
                                "reason": f"media file not found: tried {tried}"})
    if usable:
        return None
    rows += len(stream.errors) + stream.duplicates + stream.skipped
    if not rows:
        return "the file holds no rows (an empty list)"
    if not missing and not stream.errors:
        return f"none of its {rows} rows would import (all skipped as deleted)"
    found = [{"row": e.row, "id": e.external_id, "reason": e.reason} for e in stream.errors[:PREFLIGHT_EXAMPLES]]
    examples = sorted(found + missing, key=lambda e: int(str(e["row"])))
    where = f" under {media_dir}" if missing and media_dir is not None else ""
    return (f"none of its {rows} row{'s' if rows != 1 else ''} would import{where}, e.g. "
            + "; ".join(format_error(e) for e in examples[:PREFLIGHT_EXAMPLES]))


def ensure_import_roots(**_kwargs: object) -> None:
    """Create the IMPORT_ROOTS folders (after every `migrate`, which `scripts/run.sh` runs at start), so the folder
    the upload form names exists to put media in. A root that cannot be made (a mount not there) is logged."""
    for root in settings.IMPORT_ROOTS:
        try:
            Path(root).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            logger.warning("import root %s could not be created: %s", root, exc.strerror or exc)


class _NotRows(Exception):
    pass


def source_version(source_format: str, path: Path) -> dict[str, str]:
    """Which revision of a benchmark an annotation file is (MMAU test-mini was revised several times, so a number
    is comparable with a published one only on the same revision); {} where the format has no such notion, or the
    file's rows are not objects with comparable ids."""
    if source_format != "mmau":
        return {}
    from pipeline.datasets.mmau_scoring import annotation_version

    def objects(fh: BinaryIO) -> Iterator[dict[str, Any]]:
        for row in iter_rows(fh):
            if not isinstance(row, dict):
                raise _NotRows
            yield row

    try:
        with path.open("rb") as fh:
            return annotation_version(objects(fh))
    except (_NotRows, AnnotationFileError, TypeError, ValueError):  # TypeError: ids of mixed types do not sort
        return {}


def _progress(import_run: ImportRun, done: int, total: int) -> None:
    import_run.report_progress(done, total)
    failpoint("import.progress")


def run_import(import_run: ImportRun, path: Path, on_progress: ProgressFn | None = None,
               attempt: int | None = None) -> ImportReport:
    """Apply an import and record its outcome on the ImportRun row (the UI and the command read it).

    `attempt` is the queued job's (None in the import command, which runs the run it just made); an attempt that
    no longer owns the run raises `Superseded` before touching a row. Rows are keyed by their natural keys, so a
    re-run is the resume.
    """
    importer = Importer(
        import_run.dataset, split=import_run.split,
        media_dir=Path(import_run.media_dir) if import_run.media_dir else None,
        allow_missing_media=import_run.allow_missing_media,
    )
    if not import_run.mark_running(attempt=attempt):
        raise Superseded(f"import {import_run.pk} is {import_run.status}, not queued at attempt {attempt}")
    try:
        report = importer.run(path, on_progress=on_progress or (lambda d, t, _m: _progress(import_run, d, t)))
        version = source_version(import_run.source_format, path)
    except AnnotationFileError as exc:
        ImportRun.objects.filter(pk=import_run.pk).update(
            errors=[{"row": None, "id": None, "reason": str(exc)}], error_count=1
        )
        import_run.errors, import_run.error_count = [{"row": None, "id": None, "reason": str(exc)}], 1
        import_run.mark_failed(f"annotation file rejected: {exc}")
        raise
    except Exception as exc:
        import_run.mark_failed(exc)
        raise
    fields = dict(
        created_count=report.created, unchanged_count=report.unchanged, attached_count=report.attached,
        duplicate_count=report.duplicates, skipped_count=report.skipped, error_count=len(report.errors),
        errors=report.errors, warnings=report.warnings, source_version=version,
    )
    with import_run.fence():
        ImportRun.objects.filter(pk=import_run.pk).update(**fields)
    for name, value in fields.items():
        setattr(import_run, name, value)
    import_run.mark_succeeded()
    logger.info("import %s: %s created, %s unchanged, %s errors", import_run.pk, report.created,
                report.unchanged, len(report.errors))
    return report
