"""What the Django admin may not touch: a run's life cycle belongs to its jobs.

Editing a run's status by hand would bypass the guarded transitions (`Run.mark_*`) and could start a second live
job on one run; the fields are shown read-only, and runs are cancelled and resumed from their own pages.
The large tables' change lists do not count every row on each view (`LargeTableAdmin`).
"""

from __future__ import annotations

from django.contrib import admin

from webapp.core.paging import EstimatedCountPaginator

RUN_LIFE_CYCLE = ("status", "started_at", "finished_at", "progress_done", "progress_total", "progress_metrics",
                  "error", "rq_job_id", "created_by", "created_at")


class RunAdmin(admin.ModelAdmin):
    """Base admin for every `Run` model: the life-cycle fields are read-only."""

    readonly_fields = RUN_LIFE_CYCLE


class LargeTableAdmin(admin.ModelAdmin):
    """For tables of millions of rows (clips, questions, chains, verdicts, reviews): no exact count(*) per page view.

    The count is estimated above a threshold (webapp/core/paging.py; the page says "about N"), and the unfiltered
    total beside a filtered one is not counted at all. Newest first along the primary key: the models' own orderings
    (a chain's by dataset name, question, run and sample) make PostgreSQL sort every row to show the first 100.
    """

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    ordering = ["-pk"]
