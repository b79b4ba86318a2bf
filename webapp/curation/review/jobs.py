"""RQ entry point of review: a large bulk action, applied by a worker (queued by `BulkAction.enqueue`)."""

from __future__ import annotations

from webapp.curation.review.bulk import execute


def bulk_job(bulk_id: int) -> dict[str, int]:
    return execute(bulk_id)
