"""Import annotation files into Dataset / Clip / Question rows: the one front door for the import commands and
the upload form (the media processing that follows is `ingest`).

Why rows are still decided one by one: one bad row (an out-of-range answer, an undecodable video) must be
reported with its line and reason while every good row lands. Why they are written in batches: a transaction and
a few ORM queries per row held imports to a few hundred rows/s, minutes for AVQA's 57k rows. So rows go in batches
of up to BATCH_ROWS (fewer in a small file, so progress moves): each batch looks up the clips its rows name in one
query, probes and copies their media in a thread pool, decides each row in file order exactly as a lone row would
be decided, then writes its new clips and questions with one insert each, in one transaction. If the database
refuses the batch (a concurrent import stored one of its rows, a value it cannot hold), the batch is written
again row by row, so each refused row is reported with its row number and the others land; media copied for a
refused row is removed. The file is read as a stream, twice: once to the end, so a broken or over-long file is
refused before any row lands, then batch by batch; memory holds one batch, plus an id and a hash for each row seen
and a name and an id for each clip used. Re-running an import is a no-op: questions are matched on (dataset,
external id) and compared by content hash; a changed row is a reported conflict, never a silent overwrite. A clip
imported with its media missing is attached when a later import finds it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import DataError, IntegrityError, transaction
from django.db.models import Q
from django.utils.text import slugify

from pipeline.datasets import FORMATS, AnnotationFileError, TooManyRows, iter_rows, resolve_media
from pipeline.datasets.base import QuestionRecord
from pipeline.media import MediaError, probe
from pipeline.progress import ProgressFn
from webapp.catalog.models import Clip, Dataset, ImportRun, Question
from webapp.core import storage
from webapp.core.bulk import insert_rows
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


BATCH_ROWS = 1000  # rows per write: one clip lookup, one bulk insert of clips and one of questions
MIN_BATCH_ROWS = 25
PROBE_WORKERS = min(8, os.cpu_count() or 1)


def batch_size(total: int) -> int:
    """BATCH_ROWS, or fewer for a small file, so that progress (and a killed import's resume point) moves at least
    every 5 % of the file."""
    return max(MIN_BATCH_ROWS, min(BATCH_ROWS, -(-total // 20)))


def _batches(records: Iterable[QuestionRecord], size: int) -> Iterator[list[QuestionRecord]]:
    iterator = iter(records)
    while batch := list(islice(iterator, size)):
        yield batch


MEDIA_COLUMNS = ("media_path", "media_sha256", "size_bytes", "status", "error", "duration", "fps", "width",
                 "height", "video_codec", "audio_codec", "sample_rate")
CLIP_COLUMNS = ("dataset_id", "name", "kind", "source_media_id", *MEDIA_COLUMNS)
QUESTION_COLUMNS = ("dataset_id", "clip_id", "external_id", "text", "choices", "answer_index", "answer_text",
                    "question_type", "question_relation", "category", "sub_category", "difficulty", "split", "extra",
                    "content_hash")


@dataclass
class _NewClip:
    """A clip this import makes: its column values (MEDIA_COLUMNS: the defaults until media is given), its id once
    written."""

    name: str
    values: dict[str, Any]
    pk: int | None = None


@dataclass
class _Batch:
    """What one batch's rows share: the clips they name, looked up at once, and their media's probe outcomes."""

    clips: dict[str, Clip]  # by name: clips already in the database that rows of the batch name
    by_pk: dict[int, Clip]
    media: dict[str, Path | None] = field(default_factory=dict)  # clip name -> its media file, looked up once
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)  # clip name -> fields of its probed, copied media
    refused: dict[str, str] = field(default_factory=dict)  # clip name -> why its media was refused
    attached: set[str] = field(default_factory=set)
    new: dict[str, _NewClip] = field(default_factory=dict)  # clips this batch makes, written with its questions
    rows: list[tuple[QuestionRecord, _NewClip | int]] = field(default_factory=list)  # new questions, their clips


class Importer:
    """Applies one parsed annotation file to one dataset, a batch of rows at a time.

    Each batch is decided row by row in file order exactly as a row-at-a-time import would (the same errors, counts
    and attachments), with its database lookups done once for the batch and its media probed and copied by a
    thread pool (PyAV and hashlib release the GIL). Its new clips and questions are then written with one bulk
    insert each, in one transaction; should the database refuse that (a concurrent import's row, a value it
    cannot store), the batch is written again row by row, so the refused rows are reported and the others land.
    """

    def __init__(self, dataset: Dataset, *, split: str, media_dir: Path | None, allow_missing_media: bool,
                 probe_workers: int = PROBE_WORKERS) -> None:
        self.dataset = dataset
        self.fmt = FORMATS[dataset.source_format]
        self.split = split
        self.media_dir = media_dir
        self.allow_missing_media = allow_missing_media
        self.probe_workers = probe_workers
        self._clip_ids: dict[str, int] = {}  # clip name -> id, for the clips rows of this import have used
        self._fresh: set[str] = set()  # clips given media by this import: they need processing
        self._queued: set[int] = set()

    def run(self, path: Path, on_progress: ProgressFn | None = None) -> ImportReport:
        """Apply the file at `path`; AnnotationFileError (nothing imported) when it is unusable as a whole."""
        total = count_rows(path)
        report = ImportReport()
        existing = {
            external_id: (digest, clip_id, clip_status)
            for external_id, digest, clip_id, clip_status in Question.objects.filter(dataset=self.dataset)
            .values_list("external_id", "content_hash", "clip_id", "clip__status").iterator()
        }
        with path.open("rb") as fh, ThreadPoolExecutor(self.probe_workers, thread_name_prefix="probe") as pool:
            stream = self.fmt.stream(fh)
            for records in _batches(stream, batch_size(total)):
                batch = self._look_up(records, existing, pool)
                for record in records:
                    try:
                        self._apply(record, existing.get(record.external_id), report, batch)
                    except _RowRejected as exc:
                        report.error(record.row, record.external_id, str(exc))
                self._write(batch, report)
                if on_progress:
                    on_progress(records[-1].row, total, {})
        if on_progress:
            on_progress(total, total, {})
        report.duplicates, report.skipped = stream.duplicates, stream.skipped
        for err in stream.errors:
            report.error(err.row, err.external_id, err.reason)
        report.warnings = [{"row": w.row, "id": w.external_id, "reason": w.reason} for w in stream.warnings]
        report.errors.sort(key=lambda e: (e["row"] is not None, e["row"] or 0))
        return report

    def _look_up(self, records: list[QuestionRecord], existing: dict[str, tuple[str, int, str]],
                 pool: ThreadPoolExecutor) -> _Batch:
        """One query for the clips the batch's rows name, then the media of those that need it, probed in parallel."""
        names: set[str] = set()
        missing: set[int] = set()
        for record in records:
            stored = existing.get(record.external_id)
            if stored is None:
                if record.media_name not in self._clip_ids:
                    names.add(record.media_name)
            elif stored[2] == Clip.Status.MISSING and stored[0] == record.content_hash():
                missing.add(stored[1])
        found = list(Clip.objects.filter(Q(pk__in=missing) | Q(dataset=self.dataset, name__in=names))) \
            if names or missing else []
        batch = _Batch(clips={c.name: c for c in found}, by_pk={c.pk: c for c in found})
        for record in records:
            name = record.media_name
            clip = batch.clips.get(name)
            if clip is None:
                wanted = name in names
            else:  # only a clip still missing its media can be given it
                wanted = clip.status == Clip.Status.MISSING and (name in names or clip.pk in missing)
            if wanted and name not in batch.media:
                batch.media[name] = resolve_media(self.fmt, self.media_dir, record) if self.media_dir else None
        jobs = {name: pool.submit(self._probe_and_copy, name, source)
                for name, source in batch.media.items() if source is not None}
        for name, job in jobs.items():
            try:
                batch.stored[name] = job.result()
            except _RowRejected as exc:
                batch.refused[name] = str(exc)
        return batch

    def _apply(self, record: QuestionRecord, stored: tuple[str, int, str] | None, report: ImportReport,
               batch: _Batch) -> None:
        """`stored`: (content hash, clip id, clip status) of the question already imported under this id, if any."""
        digest = record.content_hash()
        if stored is not None:
            stored_digest, clip_id, clip_status = stored
            if stored_digest != digest:
                raise _RowRejected(
                    "conflicts with the question already imported under this id (different content); "
                    "not overwritten"
                )
            clip = batch.by_pk.get(clip_id) if clip_status == Clip.Status.MISSING else None
            if clip is not None and clip.status == Clip.Status.MISSING and self._attach(clip, batch):
                report.attached += 1
                self._queue(clip.pk, report)
            else:
                report.unchanged += 1
            return
        batch.rows.append((record, self._clip_for(record, report, batch)))

    def _clip_for(self, record: QuestionRecord, report: ImportReport, batch: _Batch) -> _NewClip | int:
        """The clip a record points at: the id of one used before or in the database, or a new unsaved one."""
        name = record.media_name
        if name in self._clip_ids:
            return self._clip_ids[name]
        if name in batch.new:
            return batch.new[name]
        clip = batch.clips.get(name)
        if clip is not None:
            self._clip_ids[name] = clip.pk
            if clip.status == Clip.Status.MISSING and self._attach(clip, batch):
                report.attached += 1
                self._queue(clip.pk, report)
            return clip.pk
        if batch.media.get(name) is None:
            if not self.allow_missing_media:
                tried = ", ".join(self.fmt.media_candidates(record))
                where = f"under {self.media_dir}" if self.media_dir else "(no media directory given)"
                raise _RowRejected(f"media file not found: tried {tried} {where}")
            media = {**_MEDIA_DEFAULTS, "status": Clip.Status.MISSING.value, "error": "media not found at import"}
        else:
            media = self._take_media(name, batch)
            self._fresh.add(name)
        clip = _NewClip(name, {"dataset_id": self.dataset.pk, "name": name, "kind": record.media_kind,
                               "source_media_id": record.source_media_id, **media})
        batch.new[name] = clip
        return clip

    def _take_media(self, name: str, batch: _Batch) -> dict[str, Any]:
        """The fields of a clip's probed and copied media; the row is rejected with the reason the probe gave."""
        if name in batch.refused:
            raise _RowRejected(batch.refused[name])
        return batch.stored[name]

    def _attach(self, clip: Clip, batch: _Batch) -> bool:
        """Give a clip imported without media its file, if this import can find it (saved with the batch)."""
        if clip.name in batch.attached or batch.media.get(clip.name) is None:
            return False
        for name, value in self._take_media(clip.name, batch).items():
            setattr(clip, name, value)
        batch.attached.add(clip.name)
        return True

    def _probe_and_copy(self, name: str, source: Path) -> dict[str, Any]:
        """Probe (rejects undecodable files and videos without sound), then place under the storage root: the
        clip's fields. Runs in the pool, so it touches no model and no database."""
        try:
            info = probe(source, require_audio=True, check_type=True)
        except MediaError as exc:
            raise _RowRejected(f"{source.name}: {exc.reason}") from exc
        relative = f"media/{self.dataset.slug}/{name}{source.suffix.lower()}"
        stored = storage.store_copy(source, relative)
        return dict(
            media_path=relative, media_sha256=storage.sha256_file(stored), size_bytes=stored.stat().st_size,
            status=Clip.Status.PENDING.value, error="", duration=info.duration, fps=info.fps, width=info.width,
            height=info.height, video_codec=info.video_codec or "", audio_codec=info.audio_codec or "",
            sample_rate=info.sample_rate,
        )

    def _question_row(self, record: QuestionRecord, clip_id: int | None) -> tuple[Any, ...]:
        """QUESTION_COLUMNS of one new question."""
        return (self.dataset.pk, clip_id, record.external_id, record.text, list(record.choices), record.answer_index,
                record.answer_text, record.question_type, record.question_relation, record.category,
                record.sub_category, record.difficulty, self.split, dict(record.extra), record.content_hash())

    def _insert_clips(self, clips: list[_NewClip]) -> None:
        """Write new clips and learn their ids (by name: one query, on any database)."""
        insert_rows(Clip, CLIP_COLUMNS, ([c.values[k] for k in CLIP_COLUMNS] for c in clips))
        ids = dict(Clip.objects.filter(dataset=self.dataset, name__in=[c.name for c in clips])
                   .values_list("name", "pk"))
        for clip in clips:
            clip.pk = ids[clip.name]

    def _write(self, batch: _Batch, report: ImportReport) -> None:
        """Attached clips, then the batch's new clips and questions in one transaction; row by row if refused."""
        for name in batch.attached:
            batch.clips[name].save()
        if not batch.rows:
            return
        new = list(batch.new.values())
        try:
            with transaction.atomic():
                if new:
                    self._insert_clips(new)
                insert_rows(Question, QUESTION_COLUMNS,
                            [self._question_row(record, _pk(clip)) for record, clip in batch.rows])
        except (IntegrityError, DataError):  # a concurrent import won a race; a value the parser let by
            for clip in new:
                clip.pk = None
            self._write_rows(batch, report)
            return
        for record, clip in batch.rows:
            self._created(record, clip, report)

    def _write_rows(self, batch: _Batch, report: ImportReport) -> None:
        """Each row in its own transaction, so only the rows the database refuses are lost, each with its reason."""
        for record, clip in batch.rows:
            is_new = isinstance(clip, _NewClip) and clip.pk is None
            try:
                with transaction.atomic():
                    if is_new:
                        self._insert_clips([clip])
                    insert_rows(Question, QUESTION_COLUMNS, [self._question_row(record, _pk(clip))])
            except (IntegrityError, DataError) as exc:
                if is_new:
                    clip.pk = None
                report.error(record.row, record.external_id, f"could not be stored: {exc}")
                continue
            self._created(record, clip, report)
        for clip in batch.new.values():
            if clip.pk is None:
                self._discard_copy(clip)

    def _created(self, record: QuestionRecord, clip: _NewClip | int, report: ImportReport) -> None:
        pk = _pk(clip)
        assert pk is not None
        self._clip_ids[record.media_name] = pk
        report.created += 1
        if record.media_name in self._fresh:
            self._queue(pk, report)

    def _discard_copy(self, clip: _NewClip) -> None:
        """Remove the media copied for a clip whose row the database refused, unless a stored clip uses the file
        (a concurrent import of the same clip): nothing refused leaves an orphan under the storage root."""
        if clip.name in self._fresh:
            self._fresh.discard(clip.name)
            media_path = clip.values["media_path"]
            if not Clip.objects.filter(media_path=media_path).exists():
                storage.resolve(media_path).unlink(missing_ok=True)

    def _queue(self, clip_id: int, report: ImportReport) -> None:
        if clip_id not in self._queued:
            self._queued.add(clip_id)
            report.clips_to_process.append(clip_id)


_MEDIA_DEFAULTS = {name: Clip._meta.get_field(name).get_default() for name in MEDIA_COLUMNS}


def _pk(clip: _NewClip | int) -> int | None:
    return clip if isinstance(clip, int) else clip.pk


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
