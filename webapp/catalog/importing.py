"""Shared front door for imports from the command line and the upload form."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth.models import AbstractBaseUser
from django.utils.text import slugify

from webapp.catalog.models import Dataset, ImportRun


class DatasetFormatMismatch(ValueError):
    pass


def get_or_create_dataset(name: str, source_format: str) -> Dataset:
    dataset = Dataset.objects.filter(name=name).first()
    if dataset is None:
        slug = slugify(name) or "dataset"
        base, n = slug, 2
        while Dataset.objects.filter(slug=slug).exists():
            slug, n = f"{base}-{n}", n + 1
        return Dataset.objects.create(name=name, slug=slug, source_format=source_format)
    if dataset.source_format != source_format:
        raise DatasetFormatMismatch(
            f"dataset {name!r} holds {dataset.get_source_format_display()} data; "
            f"choose another dataset name for {source_format} annotations"
        )
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
