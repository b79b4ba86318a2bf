"""Deleting a dataset, with what it takes and what it frees shown first, and never what something kept needs.

Why Django's own deletion, counted in a transaction rolled back: it follows every foreign key the apps above catalog
declare (runs, chains, reviews, snapshots) without catalog importing them, and a PROTECT relation (a snapshot,
which training runs and exports stand on) refuses the deletion there; the preview is then exactly what the delete
does. It costs one delete's work, which an admin's confirmation page can afford. The folders freed are the
dataset's own (`media/<slug>`, `derived/<slug>`) and its uploaded annotation files; they go once the rows are gone,
so a refused or failed delete leaves every file in place.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps
from django.db import transaction
from django.db.models.deletion import ProtectedError, RestrictedError

from webapp.catalog.models import Dataset, Question
from webapp.core import storage
from webapp.core.models import ACTIVE_STATUSES, Run

logger = logging.getLogger(__name__)


@dataclass
class DeletionPlan:
    dataset: Dataset
    rows: list[tuple[str, int]] = field(default_factory=list)  # (what, how many) the deletion removes
    blocked_by: list[str] = field(default_factory=list)  # rows that must stay, which need this dataset
    paths: list[Path] = field(default_factory=list)
    bytes_freed: int = 0

    @property
    def allowed(self) -> bool:
        return not self.blocked_by


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += (Path(folder) / name).stat().st_size
            except OSError:  # removed meanwhile
                continue
    return total


def plan_dataset_deletion(dataset: Dataset) -> DeletionPlan:
    """What deleting `dataset` would remove, counted by doing it in a transaction that is rolled back."""
    plan = DeletionPlan(dataset)
    plan.blocked_by = _active_runs(dataset)
    try:
        with transaction.atomic():
            removed = _delete_rows(dataset)
            transaction.set_rollback(True)
    except (ProtectedError, RestrictedError) as exc:
        blocked = getattr(exc, "protected_objects", None) or getattr(exc, "restricted_objects", set())
        plan.blocked_by += sorted({f"{obj._meta.verbose_name} {obj}" for obj in blocked})
        return plan
    names = {m._meta.label: str(m._meta.verbose_name_plural) for m in apps.get_models()}
    plan.rows = sorted(((names.get(label, label), n) for label, n in removed.items() if n), key=lambda r: -r[1])
    uploads = [storage.resolve(p) for p in dataset.imports.exclude(annotations_path="")
               .values_list("annotations_path", flat=True)]
    candidates = [storage.resolve(f"media/{dataset.slug}"), storage.resolve(f"derived/{dataset.slug}"), *uploads]
    plan.paths = [p for p in candidates if p.exists()]
    plan.bytes_freed = sum(_size(p) for p in plan.paths)
    return plan


def _delete_rows(dataset: Dataset) -> Counter[str]:
    """Questions first (a question PROTECTs its clip, so the dataset's own cascade would refuse), then the rest."""
    removed: Counter[str] = Counter(Question.objects.filter(dataset=dataset).delete()[1])
    removed.update(Dataset.objects.filter(pk=dataset.pk).delete()[1])
    return removed


def _active_runs(dataset: Dataset) -> list[str]:
    """Queued or running work on the dataset (of any app: found through its reverse relations), which would write
    into what is deleted under it: it finishes or is cancelled first."""
    active = []
    for rel in Dataset._meta.related_objects:
        if issubclass(rel.related_model, Run):
            for run in rel.related_model.objects.filter(**{rel.field.name: dataset}, status__in=ACTIVE_STATUSES):
                active.append(f"{run._meta.verbose_name} {run} ({run.status})")
    return active


def delete_dataset(plan: DeletionPlan) -> None:
    """Delete the rows (all or none), then the files they pointed at."""
    if not plan.allowed:
        raise ValueError(f"{plan.dataset} is needed by {', '.join(plan.blocked_by)}")
    with transaction.atomic():
        _delete_rows(plan.dataset)
    for path in plan.paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    logger.info("deleted dataset %s: %s bytes freed", plan.dataset.slug, plan.bytes_freed)
