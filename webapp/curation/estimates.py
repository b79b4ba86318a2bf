"""How long a run will take on this deployment, before it is launched: from the throughput earlier runs measured.

Every teacher and validation run stores its rate in `progress_metrics["chains_per_s"]` (the latest attempt's: a
resumed attempt measures itself, not the time its predecessor spent dead) and the machine class it ran on
(`worker_class`), so the estimate follows the deployment's real hardware and models rather than a guess: one line
per class of worker that has run this kind (the newest run of each, of the same model when one has), GPU-hours on
GPU classes, the run at full size when it is limited to part of the data, and, for a 7B teacher, the GPUs this
deployment has not used yet from the figures in docs/gpu.md (webapp/core/gpu_reference.py). The page names each run
a rate comes from, and the launch keeps the estimate on the run, to be set beside what it took.
"""

from __future__ import annotations

from typing import Any

from webapp.catalog.models import Dataset
from webapp.core.estimates import Reference, describe, newest_rates, record
from webapp.core.gpu_reference import documented
from webapp.curation.models import Chain, GenerationRun


def references(kind: str, model: str = "") -> list[Reference]:
    """The newest measured rate per worker class (runs of the same model first), then documented GPUs not seen."""
    found = newest_rates(GenerationRun.objects.filter(kind=kind), "chains_per_s", lambda run: f"run #{run.pk}",
                         {"model": model})
    return found + documented(kind, model, [r.worker_class for r in found])


def _teacher_amounts(dataset_id: object, split: str, limit: int | None, k: int) -> tuple[int, int] | None:
    """(chains this launch makes, chains at full size), or None without a dataset."""
    dataset = Dataset.objects.filter(pk=dataset_id).first() if str(dataset_id or "").isdigit() else None
    if dataset is None:
        return None
    questions = dataset.questions.filter(split=split) if split else dataset.questions.all()
    n = questions.count()
    return (min(n, limit) * k if limit else n * k), n * k


def teacher_estimate(dataset_id: object, split: str, limit: int | None, k: int, model: str) -> str:
    amounts = _teacher_amounts(dataset_id, split, limit, k)
    if amounts is None:
        return ""
    return describe(amounts[0], "chains", references(GenerationRun.Kind.TEACHER, model), full=amounts[1])


def teacher_record(dataset_id: object, split: str, limit: int | None, k: int, model: str) -> dict[str, Any]:
    amounts = _teacher_amounts(dataset_id, split, limit, k)
    return record(amounts[0], "chains", references(GenerationRun.Kind.TEACHER, model)) if amounts else {}


def _validation_amount(source_run_id: object, include_dropped: bool) -> int | None:
    if not str(source_run_id or "").isdigit():
        return None
    chains = Chain.objects.filter(run_id=source_run_id)
    return (chains if include_dropped else chains.filter(kept=True)).count()


def validation_estimate(source_run_id: object, include_dropped: bool) -> str:
    amount = _validation_amount(source_run_id, include_dropped)
    return "" if amount is None else describe(amount, "chains", references(GenerationRun.Kind.VALIDATION))


def validation_record(source_run_id: object, include_dropped: bool) -> dict[str, Any]:
    amount = _validation_amount(source_run_id, include_dropped)
    return {} if amount is None else record(amount, "chains", references(GenerationRun.Kind.VALIDATION))
