"""What the Django admin may not touch: a run's life cycle belongs to its jobs.

Editing a run's status by hand would bypass the guarded transitions (`Run.mark_*`) and could start a second live
job on one run; the fields are shown read-only, and runs are cancelled and resumed from their own pages.
"""

from __future__ import annotations

from django.contrib import admin

RUN_LIFE_CYCLE = ("status", "started_at", "finished_at", "progress_done", "progress_total", "progress_metrics",
                  "error", "rq_job_id", "created_by", "created_at")


class RunAdmin(admin.ModelAdmin):
    """Base admin for every `Run` model: the life-cycle fields are read-only."""

    readonly_fields = RUN_LIFE_CYCLE
