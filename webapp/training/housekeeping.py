"""Deleting a snapshot, or a training run's checkpoints, with what it frees shown first (mechanics: core's).

A snapshot goes with its frozen items and its export folder; a training run that used it PROTECTs it, so the
rolled-back deletion names the run. A run's checkpoints are the disk of a finished run: everything in its output
folder but the predictions file its evaluation pages and the comparison still read. The run row, its metrics and
results stay; `results["checkpoints_deleted_at"]` records it, and the run page then offers nothing that would read
the adapter (GRPO from it, Evaluate it, the adapter download).
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from pathlib import Path

from django.utils import timezone

from webapp.core import housekeeping, storage
from webapp.core.housekeeping import DeletionPlan
from webapp.core.models import ACTIVE_STATUSES
from webapp.training import adapters
from webapp.training.models import DatasetSnapshot, TrainingRun
from webapp.training.snapshots import default_export_dir


def plan_snapshot_deletion(snapshot: DatasetSnapshot) -> DeletionPlan:
    export = storage.resolve(snapshot.export_dir or default_export_dir(snapshot))
    paths = [export] if export != storage.root().resolve() else []
    return housekeeping.plan_deletion(snapshot, partial(_delete_snapshot_rows, snapshot), paths,
                                      housekeeping.active([snapshot]))


def _delete_snapshot_rows(snapshot: DatasetSnapshot) -> Counter[str]:
    return Counter(DatasetSnapshot.objects.filter(pk=snapshot.pk).delete()[1])


def delete_snapshot(plan: DeletionPlan) -> None:
    housekeeping.carry_out(plan, partial(_delete_snapshot_rows, plan.subject))


def plan_checkpoint_deletion(run: TrainingRun) -> DeletionPlan:
    """The run's output folder but what evaluation pages read; refused while it or a run reading it is active."""
    readers = TrainingRun.objects.filter(parent=run, status__in=ACTIVE_STATUSES)
    return housekeeping.plan_deletion(run, partial(_mark_deleted, run), checkpoint_paths(run),
                                      housekeeping.active([run, *readers]))


def checkpoint_paths(run: TrainingRun) -> list[Path]:
    """Every entry of the output folder except the predictions file (and a folder holding it), and the adapter
    folder the run recorded when it lies elsewhere under the storage root."""
    out = storage.resolve(run.output_dir)
    kept = [storage.resolve(rel)] if (rel := run.results.get("predictions")) else []
    paths = [p for p in sorted(out.iterdir()) if not any(k == p or p in k.parents for k in kept)] \
        if out.is_dir() else []
    adapter = adapters.adapter_folder(run)
    if adapter is not None and out not in adapter.parents and adapter != out:
        paths.append(adapter)
    return paths


def _mark_deleted(run: TrainingRun) -> Counter[str]:
    """No row goes: the run records when its checkpoints did (the first time, if deleted twice)."""
    results = {"checkpoints_deleted_at": timezone.now().isoformat(), **run.results}
    TrainingRun.objects.filter(pk=run.pk).update(results=results)
    return Counter()


def delete_checkpoints(plan: DeletionPlan) -> None:
    housekeeping.carry_out(plan, partial(_mark_deleted, plan.subject))
