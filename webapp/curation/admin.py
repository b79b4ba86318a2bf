from __future__ import annotations

from django.contrib import admin

from webapp.core.admin import LargeTableAdmin, RunAdmin
from webapp.curation.models import Chain, GenerationRun, Review, Verdict


@admin.register(GenerationRun)
class GenerationRunAdmin(RunAdmin):
    list_display = ["id", "kind", "dataset", "model", "status", "created_at"]
    list_filter = ["kind", "status"]


@admin.register(Chain)
class ChainAdmin(LargeTableAdmin):
    """Decisions, versions and text change only through review (each a history row), the verdict of record only
    when a validation run succeeds: never here."""

    list_display = ["id", "run", "question", "sample_index", "parsed_answer", "is_correct", "decision"]
    readonly_fields = ["text", "decision", "version", "kept", "drop_reason", "parsed_answer", "is_correct", "verdict"]
    list_filter = ["decision", "is_correct", "kept"]
    raw_id_fields = ["run", "question"]


@admin.register(Verdict)
class VerdictAdmin(LargeTableAdmin):
    list_display = ["chain", "validator", "validator_version", "label", "score"]
    list_filter = ["label"]  # a validator filter would list its values by a DISTINCT over every verdict: searched
    search_fields = ["validator"]
    raw_id_fields = ["chain"]


@admin.register(Review)
class ReviewAdmin(LargeTableAdmin):
    """Read-only: the history is append-only."""

    list_display = ["chain", "curator", "action", "from_decision", "to_decision", "created_at"]
    list_filter = ["action", "curator"]

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False
