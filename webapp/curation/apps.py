from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class CurationConfig(AppConfig):
    name = "webapp.curation"
    label = "curation"

    def question_context(self, question: Any, params: Any = None) -> dict[str, Any]:
        """The catalog's question page shows the chains through this hook, so catalog never imports curation;
        `params` (the page's query) says which page of each run's chains to show."""
        from webapp.curation.presenters import chains_for_question

        runs = chains_for_question(question, params)
        return {"chain_runs": runs, "chain_count": sum(r.page.paginator.count for r in runs)}
