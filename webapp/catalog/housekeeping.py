"""Deleting a dataset, with what it takes and what it frees shown first, and never what something kept needs.

The mechanics (what the deletion reaches, counted and deleted in SQL, then rows and files) are core's
(`webapp.core.housekeeping`, `webapp.core.cascade`). The folders freed are the dataset's own (`media/<slug>`,
`derived/<slug>`) and its uploaded annotation files. The dataset's questions are roots of the deletion beside it: a
question PROTECTs its clip, which only a question of the same dataset may point at.
"""

from __future__ import annotations

from webapp.catalog.models import Dataset, Question
from webapp.core import housekeeping, storage
from webapp.core.cascade import Cascade
from webapp.core.housekeeping import DeletionPlan
from webapp.core.models import ACTIVE_STATUSES, Run


def plan_dataset_deletion(dataset: Dataset) -> DeletionPlan:
    """What deleting `dataset` would remove, counted in SQL table by table."""
    uploads = [storage.resolve(p) for p in dataset.imports.exclude(annotations_path="")
               .values_list("annotations_path", flat=True)]
    paths = [storage.resolve(f"media/{dataset.slug}"), storage.resolve(f"derived/{dataset.slug}"), *uploads]
    return housekeeping.plan_cascade(dataset, _cascade(dataset), paths, _active_runs(dataset))


def _cascade(dataset: Dataset) -> Cascade:
    return Cascade(Question.objects.filter(dataset=dataset), Dataset.objects.filter(pk=dataset.pk))


def _active_runs(dataset: Dataset) -> list[str]:
    """Queued or running work on the dataset, of any app: found through its reverse relations."""
    runs: list[Run] = []
    for rel in Dataset._meta.related_objects:
        if issubclass(rel.related_model, Run):
            runs += rel.related_model.objects.filter(**{rel.field.name: dataset}, status__in=ACTIVE_STATUSES)
    return housekeeping.active(runs)


def delete_dataset(plan: DeletionPlan) -> None:
    housekeeping.carry_out(plan, _cascade(plan.subject).delete)
