from __future__ import annotations

from django.contrib import admin

from webapp.catalog.models import Clip, Dataset, ImportRun, Question
from webapp.core.admin import LargeTableAdmin, RunAdmin


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "source_format", "created_at"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Clip)
class ClipAdmin(LargeTableAdmin):
    list_display = ["name", "dataset", "kind", "status", "duration"]
    list_filter = ["dataset", "status", "kind"]
    search_fields = ["name", "source_media_id"]


@admin.register(Question)
class QuestionAdmin(LargeTableAdmin):
    list_display = ["external_id", "dataset", "text", "answer_text", "question_type", "split"]
    # no filter on question type, relation or category: each lists its values by a DISTINCT over every question
    # (the dataset's question list filters on them)
    list_filter = ["dataset", "split"]
    search_fields = ["external_id", "text"]
    raw_id_fields = ["clip"]


@admin.register(ImportRun)
class ImportRunAdmin(RunAdmin):
    list_display = ["source_name", "dataset", "status", "created_count", "unchanged_count", "error_count", "created_at"]
    list_filter = ["status", "source_format"]
