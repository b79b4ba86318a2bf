"""Chains generated elsewhere (a cluster, a batch API) become a generation run of kind *imported*, curated here.

The file is checked row by row by `pipeline.chain_import`: a malformed row is reported with its line and reason on
the run's page while every good row lands; a question id the dataset lacks is a row error. Chains are selected by
the teacher's default policy (drop reasons on each chain), so the review queue treats them like generated ones.
This module queues the run; its job is `jobs.import_chains_job` (a worker runs only functions of a jobs module).

Provenance: the run records the file's name and SHA-256, the model and prompt the form names (blank: what the rows
claim, `model` / `prompt_version`), and who imported it. Re-importing the same bytes into the same dataset is a
no-op that returns the run already made (a failed or cancelled one is not reused). The job is resumable like a
teacher run's: chains are keyed by (run, question, sample index), and questions already stored are skipped.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from webapp.catalog.models import Dataset
from webapp.core import storage
from webapp.core.models import RunStatus
from webapp.curation.models import GenerationRun


def _store(chunks: Iterable[bytes]) -> tuple[str, str]:
    """Copy the file under the storage root, named by its SHA-256: (relative path, digest)."""
    tmp = storage.resolve(f"uploads/chains/.{uuid.uuid4().hex}.part")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tmp.open("wb") as out:
        for chunk in chunks:
            digest.update(chunk)
            out.write(chunk)
    relative = f"uploads/chains/{digest.hexdigest()}.jsonl"
    tmp.replace(storage.resolve(relative))
    return relative, digest.hexdigest()


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            yield chunk


def queue_chain_import(
    dataset: Dataset,
    source: Path | object,
    *,
    source_name: str = "",
    model: str = "",
    prompt_version: str = "",
    prompt: str = "",
    validate_after: str = "",
    user: AbstractBaseUser | None = None,
) -> tuple[GenerationRun, bool]:
    """Queue the import of a chains file (a path, or an upload with `.chunks()`); (run, created).

    `validate_after` ("sound-events", "lalm", "both") chains a validation run when the import succeeds.
    """
    if isinstance(source, Path):
        relative, digest = _store(_file_chunks(source))
        source_name = source_name or source.name
    else:
        relative, digest = _store(source.chunks())  # type: ignore[attr-defined]
        source_name = source_name or getattr(source, "name", "") or ""
    same = GenerationRun.objects.filter(dataset=dataset, kind=GenerationRun.Kind.IMPORTED, config__sha256=digest)
    if (existing := same.exclude(status__in=(RunStatus.FAILED, RunStatus.CANCELLED)).first()) is not None:
        return existing, False
    with transaction.atomic():
        run = GenerationRun.objects.create(
            dataset=dataset,
            kind=GenerationRun.Kind.IMPORTED,
            model=model,
            backend="",
            prompt_version=prompt_version,
            prompt_template=prompt,
            samples_per_question=0,
            created_by=user,
            config={
                "source_name": source_name[:255],
                "sha256": digest,
                "path": relative,
                "policy": "teacher default (no answer, wrong answer, bad format, near-duplicate dropped)",
            },
            question_filter={"validate_after": validate_after} if validate_after else {},
        )
        run.enqueue()
    return run, True
