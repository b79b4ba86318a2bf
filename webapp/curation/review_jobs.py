"""The background half of bulk review actions: large filtered sets are applied by an RQ worker."""

from __future__ import annotations

import logging

from django.http import QueryDict

from webapp.curation import review
from webapp.curation.models import BulkAction

logger = logging.getLogger(__name__)


def bulk_job(bulk_id: int) -> dict[str, int]:
    """Re-run the stored filter at execution time (the set the curator confirmed, as it is now) and apply it."""
    from webapp.curation.review_forms import ReviewFilterForm

    run = BulkAction.objects.select_related("created_by").get(pk=bulk_id)
    if not run.mark_running():
        return {"applied": run.applied_count, "skipped": run.skipped_count}
    try:
        params = QueryDict(mutable=True)
        params.update(run.filters)
        form = ReviewFilterForm(params)
        if not form.is_valid():
            raise ValueError(f"stored filter no longer valid: {form.errors.as_text()}")
        applied, skipped = review.bulk_apply(run, form.chains(), run.created_by)
    except Exception as exc:
        logger.exception("bulk action %s failed", bulk_id)
        run.mark_failed(exc)
        raise
    run.mark_succeeded()
    return {"applied": applied, "skipped": skipped}
