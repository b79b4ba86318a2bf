"""RQ entry point of review: a large bulk action, applied by a worker (queued by `BulkAction.enqueue`)."""

from __future__ import annotations

from webapp.curation.review.bulk import execute


def bulk_job(bulk_id: int, attempt: int) -> dict[str, int | str]:
    return execute(bulk_id, attempt)
