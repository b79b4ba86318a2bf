"""Deleting a generation run (teacher, validation or imported) with its chains, verdicts and reviews counted first.

Mechanics are core's (`webapp.core.housekeeping`, `webapp.core.cascade`: counted and deleted in SQL). A snapshot
item PROTECTs the chain it froze, so the preview names the snapshot item that keeps the run. A validation run's
`source_run` CASCADEs, which would take the validation's verdicts silently: it is refused here instead, so the
judging run is deleted first, on its own page. A run's own verdicts (the ones a validation run wrote, on any chains)
go with it; Django would only unlink them. An imported run frees its uploaded chains file.
"""

from __future__ import annotations

from webapp.core import housekeeping, storage
from webapp.core.cascade import Cascade
from webapp.core.housekeeping import DeletionPlan
from webapp.curation.models import GenerationRun, Verdict


def plan_run_deletion(run: GenerationRun) -> DeletionPlan:
    blocked = housekeeping.active([run])
    blocked += [f"{housekeeping.describe(v)} (judges its chains)" for v in run.validation_runs.all()]
    path = run.config.get("path") if run.kind == GenerationRun.Kind.IMPORTED else None
    paths = [storage.resolve(path)] if path else []
    return housekeeping.plan_cascade(run, _cascade(run), paths, blocked)


def _cascade(run: GenerationRun) -> Cascade:
    return Cascade(Verdict.objects.filter(run=run), GenerationRun.objects.filter(pk=run.pk))


def delete_run(plan: DeletionPlan) -> None:
    housekeeping.carry_out(plan, _cascade(plan.subject).delete)
