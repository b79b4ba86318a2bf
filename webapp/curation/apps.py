from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class CurationConfig(AppConfig):
    name = "webapp.curation"
    label = "curation"

    def question_context(self, question: Any) -> dict[str, Any]:
        """The catalog's question page shows the chains through this hook, so catalog never imports curation."""
        from webapp.curation.presenters import chains_for_question

        return {"chains": chains_for_question(question)}
