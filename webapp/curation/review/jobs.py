"""RQ entry points of review: a large bulk action, applied by a worker (queued by `BulkAction.enqueue`), and the
active queue's refresh after decisions (queued by `priority.note_decision`)."""

from __future__ import annotations

from webapp.catalog.models import Dataset
from webapp.curation.review import priority
from webapp.curation.review.bulk import execute


def bulk_job(bulk_id: int, attempt: int) -> dict[str, int | str]:
    return execute(bulk_id, attempt)


def priorities_job(dataset_id: int) -> int:
    """Refit the calibrations on the decisions so far and re-rank the dataset's pending questions."""
    dataset = Dataset.objects.filter(pk=dataset_id).first()
    return priority.refresh(dataset) if dataset is not None else 0
