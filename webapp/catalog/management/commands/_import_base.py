"""The three import commands differ only in format and defaults; this is the shared command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from pipeline.datasets import AnnotationFileError
from webapp.catalog.imports import (
    DatasetFormatMismatch,
    check_dataset_format,
    format_error,
    get_or_create_dataset,
    new_import_run,
    preflight,
    run_import,
)
from webapp.catalog.ingest import enqueue_clip_processing, ingest_clip
from webapp.catalog.models import Question
from webapp.core.queueing import QueueUnreachable


class ImportCommand(BaseCommand):
    source_format: str
    media_option: str = "--media"
    default_split: str = "train"
    media_may_be_missing: bool = True

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("annotations", type=Path, help="Annotation JSON file.")
        parser.add_argument(self.media_option, dest="media_dir", type=Path, help="Directory holding the media.")
        parser.add_argument("--dataset", help="Dataset name (default: the annotation file's stem).")
        parser.add_argument("--split", choices=[s for s, _ in Question.SPLITS], default=self.default_split)
        if self.media_may_be_missing:
            parser.add_argument("--allow-missing-media", action="store_true",
                                help="Import rows whose media is absent, marked missing until a later import.")
        parser.add_argument("--process-now", action="store_true",
                            help="Process clips in this process instead of queueing them for the RQ worker.")

    def handle(self, *args: Any, **opts: Any) -> None:
        path = Path(opts["annotations"])
        if not path.is_file():
            raise CommandError(f"annotation file not found: {path}")
        media_dir = Path(opts["media_dir"]) if opts["media_dir"] else None
        if media_dir is not None and not media_dir.is_dir():
            raise CommandError(f"media directory not found: {media_dir}")
        name = opts["dataset"] or path.stem
        allow_missing = opts.get("allow_missing_media", False)
        try:
            check_dataset_format(name, self.source_format)
            with path.open("rb") as fh:  # before the dataset is made: a file that imports nothing leaves none
                problem = preflight(fh, self.source_format, media_dir=media_dir, allow_missing_media=allow_missing)
            if problem and not Question.objects.filter(dataset__name=name).exists():
                raise CommandError(f"{path}: {problem}")
            dataset = get_or_create_dataset(name, self.source_format)
        except AnnotationFileError as exc:
            raise CommandError(f"{path}: {exc}") from exc
        except DatasetFormatMismatch as exc:
            raise CommandError(str(exc)) from exc
        run = new_import_run(
            dataset, source_name=path.name, split=opts["split"], media_dir=media_dir.resolve() if media_dir else None,
            allow_missing_media=allow_missing,
        )
        try:
            report = run_import(run, path)
        except AnnotationFileError as exc:
            raise CommandError(f"{path}: {exc}") from exc
        self.stdout.write(
            f"{dataset.name}: {report.created} created, {report.unchanged} unchanged, {report.attached} attached, "
            f"{report.duplicates} duplicate rows skipped, {report.skipped} deleted rows skipped, "
            f"{len(report.errors)} errors"
        )
        for error in report.errors:
            self.stderr.write(f"  {format_error(error)}")
        if report.warnings:
            self.stdout.write(f"  {len(report.warnings)} imported rows to look at (see the import page), e.g.")
            for warning in report.warnings[:5]:
                self.stdout.write(f"    {format_error(warning)}")
        if opts["process_now"]:
            for n, clip_id in enumerate(report.clips_to_process, start=1):
                outcome = ingest_clip(clip_id)
                self.stdout.write(f"  processed clip {n}/{len(report.clips_to_process)}: {outcome}")
        else:
            try:
                enqueue_clip_processing(report.clips_to_process)
            except QueueUnreachable as exc:  # the rows are stored; only the processing waits for Redis
                raise CommandError(f"imported, but {exc}") from exc
            if report.clips_to_process:
                self.stdout.write(f"  {len(report.clips_to_process)} clips queued for processing (RQ 'default')")
