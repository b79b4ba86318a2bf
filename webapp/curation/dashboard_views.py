"""The review dashboard: progress and agreement, as charts (Chart.js) with the numbers beside them."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from webapp.core.decorators import curator_required
from webapp.curation import dashboards


@require_GET
@curator_required
def dashboard(request: HttpRequest) -> HttpResponse:
    by_dataset, by_curator = dashboards.progress_by_dataset(), dashboards.progress_by_curator()
    by_day, between = dashboards.progress_by_day(), dashboards.curator_agreement()
    pairs = [{"pair": f"{p.a} · {p.b}", "kappa": p.kappa, "n": p.n} for p in between.pairs]
    context = {
        "by_dataset": by_dataset, "by_curator": by_curator, "by_day": by_day,
        "agreement": dashboards.validator_agreement(), "curator_labels": dashboards.CURATOR_LABELS,
        "between": between,
        "chart_data": {"datasets": by_dataset, "curators": by_curator, "days": by_day, "pairs": pairs},
    }
    return render(request, "curation/review_dashboard.html", context)
