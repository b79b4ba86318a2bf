"""How long a run will take on this deployment, before it is launched: from the throughput earlier runs measured.

Every teacher and validation run stores its rate in `progress_metrics["chains_per_s"]` (the latest attempt's: a
resumed attempt measures itself, not the time its predecessor spent dead), so the estimate needs no migration and
follows the deployment's real hardware and models rather than a guess. The newest finished run of the same kind
(and, for a teacher, the same model when there is one) is the reference, and the page names it.
"""

from __future__ import annotations

from django.db.models import QuerySet

from webapp.catalog.models import Dataset
from webapp.core.estimates import NO_REFERENCE, duration_text
from webapp.core.models import RunStatus
from webapp.curation.models import Chain, GenerationRun


def measured(kind: str, model: str = "") -> GenerationRun | None:
    """The newest succeeded run of `kind` that recorded its throughput, preferring one of the same model."""
    runs: QuerySet[GenerationRun] = GenerationRun.objects.filter(
        kind=kind, status=RunStatus.SUCCEEDED, progress_metrics__has_key="chains_per_s"
    ).order_by("-finished_at", "-pk")
    return (runs.filter(model=model).first() if model else None) or runs.first()


def describe(chains: int, reference: GenerationRun | None) -> str:
    """'2,048 chains: about 14 min at the 2.4 chains/s measured in run #7', or why there is no estimate."""
    if reference is None:
        return NO_REFERENCE
    return duration_text(chains, "chains", float(reference.progress_metrics.get("chains_per_s") or 0),
                         f"run #{reference.pk}")


def teacher_estimate(dataset_id: object, split: str, limit: int | None, k: int, model: str) -> str:
    dataset = Dataset.objects.filter(pk=dataset_id).first() if str(dataset_id or "").isdigit() else None
    if dataset is None:
        return ""
    questions = dataset.questions.filter(split=split) if split else dataset.questions.all()
    n = questions.count()
    chains = min(n, limit) * k if limit else n * k
    return describe(chains, measured(GenerationRun.Kind.TEACHER, model))


def validation_estimate(source_run_id: object, include_dropped: bool) -> str:
    if not str(source_run_id or "").isdigit():
        return ""
    chains = Chain.objects.filter(run_id=source_run_id)
    if not include_dropped:
        chains = chains.filter(kept=True)
    return describe(chains.count(), measured(GenerationRun.Kind.VALIDATION))
