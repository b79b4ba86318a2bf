from __future__ import annotations

from django.contrib import admin

from webapp.core.admin import RunAdmin
from webapp.training.models import DatasetSnapshot, MetricPoint, TrainingRun


@admin.register(DatasetSnapshot)
class DatasetSnapshotAdmin(RunAdmin):
    list_display = ["dataset", "version", "chain_count", "status", "created_at"]


@admin.register(TrainingRun)
class TrainingRunAdmin(RunAdmin):
    list_display = ["id", "stage", "name", "base_model", "status", "created_at"]
    list_filter = ["stage", "status"]


@admin.register(MetricPoint)
class MetricPointAdmin(admin.ModelAdmin):
    list_display = ["run", "step", "name", "value"]
    list_filter = ["name"]
