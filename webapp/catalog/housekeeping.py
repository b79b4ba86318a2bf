"""Deleting a dataset, with what it takes and what it frees shown first, and never what something kept needs.

The mechanics (a deletion counted in a transaction rolled back, then rows and files) are core's
(`webapp.core.housekeeping`). The folders freed are the dataset's own (`media/<slug>`, `derived/<slug>`) and its
uploaded annotation files. The dataset's questions go first: a question PROTECTs its clip, so the dataset's own
cascade would refuse.
"""

from __future__ import annotations

from collections import Counter
from functools import partial

from webapp.catalog.models import Dataset, Question
from webapp.core import housekeeping, storage
from webapp.core.housekeeping import DeletionPlan
from webapp.core.models import ACTIVE_STATUSES, Run


def plan_dataset_deletion(dataset: Dataset) -> DeletionPlan:
    """What deleting `dataset` would remove, counted by doing it in a transaction that is rolled back."""
    uploads = [storage.resolve(p) for p in dataset.imports.exclude(annotations_path="")
               .values_list("annotations_path", flat=True)]
    paths = [storage.resolve(f"media/{dataset.slug}"), storage.resolve(f"derived/{dataset.slug}"), *uploads]
    return housekeeping.plan_deletion(dataset, partial(_delete_rows, dataset), paths, _active_runs(dataset))


def _delete_rows(dataset: Dataset) -> Counter[str]:
    removed: Counter[str] = Counter(Question.objects.filter(dataset=dataset).delete()[1])
    removed.update(Dataset.objects.filter(pk=dataset.pk).delete()[1])
    return removed


def _active_runs(dataset: Dataset) -> list[str]:
    """Queued or running work on the dataset, of any app: found through its reverse relations."""
    runs: list[Run] = []
    for rel in Dataset._meta.related_objects:
        if issubclass(rel.related_model, Run):
            runs += rel.related_model.objects.filter(**{rel.field.name: dataset}, status__in=ACTIVE_STATUSES)
    return housekeeping.active(runs)


def delete_dataset(plan: DeletionPlan) -> None:
    housekeeping.carry_out(plan, partial(_delete_rows, plan.subject))
