"""What deleting something removes and frees, shown to an admin first; the deletion itself, rows then files.

Deletions follow every foreign key the apps above declare (runs, chains, reviews, snapshots) without the app that
owns the row importing them, and a PROTECT relation (a snapshot, which training runs and exports stand on; a chain a
snapshot froze) refuses the deletion there. Small ones (a snapshot, a training run's checkpoints) are Django's own
deletion counted in a transaction rolled back (`plan_deletion`): the preview is exactly what the delete does, at one
delete's work. Datasets and generation runs reach millions of chains, which Django's collector would load into
Python (minutes): they are followed in SQL by `webapp.core.cascade` (`plan_cascade`), one count per table for the
preview (the planner's estimate, "about N", above `webapp.core.paging`'s threshold) and one DELETE per table for the
deletion, which removes the same rows. Files go once the rows are gone, so
a refused or failed delete leaves every file in place.

Core owns only the mechanics: each app says what its deletion is (`delete_rows`), which files it frees and what
refuses it besides a protected relation (queued or running work).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.contrib import messages
from django.db import transaction
from django.db.models.deletion import ProtectedError, RestrictedError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat

from webapp.core.cascade import Cascade
from webapp.core.paging import Tally

logger = logging.getLogger(__name__)

RowDeleter = Callable[[], Counter[str]]


@dataclass
class DeletionPlan:
    subject: Any
    rows: list[tuple[str, Tally]] = field(default_factory=list)  # (what, how many) the deletion removes
    blocked_by: list[str] = field(default_factory=list)  # what must stay (or finish first), which needs the subject
    paths: list[Path] = field(default_factory=list)
    bytes_freed: int = 0

    @property
    def allowed(self) -> bool:
        return not self.blocked_by


def size(path: Path) -> int:
    """Bytes under `path` (a file or a folder), skipping what vanishes while it is walked."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += (Path(folder) / name).stat().st_size
            except OSError:  # removed meanwhile
                continue
    return total


def describe(obj: Any) -> str:
    return f"{obj._meta.verbose_name} {obj}"


def active(runs: Iterable[Any]) -> list[str]:
    """Queued or running work among `runs`, which would write into what is deleted under it: it finishes or is
    cancelled first."""
    return [f"{describe(run)} ({run.status})" for run in runs if run.is_active]


def plan_deletion(subject: Any, delete_rows: RowDeleter, paths: Iterable[Path], blocked_by: list[str]) -> DeletionPlan:
    """Count what `delete_rows` removes in a transaction rolled back; a protected relation lands in blocked_by."""
    plan = DeletionPlan(subject, blocked_by=list(blocked_by))
    try:
        with transaction.atomic():
            removed = delete_rows()
            transaction.set_rollback(True)
    except (ProtectedError, RestrictedError) as exc:
        blocked = getattr(exc, "protected_objects", None) or getattr(exc, "restricted_objects", set())
        plan.blocked_by += sorted({describe(obj) for obj in blocked})
        return plan
    return _counted(plan, removed, paths)


def plan_cascade(subject: Any, cascade: Cascade, paths: Iterable[Path], blocked_by: list[str]) -> DeletionPlan:
    """Count what deleting `cascade`'s rows removes, table by table in SQL; a protected relation lands in
    blocked_by (the first rows of each)."""
    plan = DeletionPlan(subject, blocked_by=list(blocked_by))
    if refused := cascade.refused_by():
        plan.blocked_by += sorted({describe(obj) for obj in refused})
    if not plan.allowed:  # the page lists what keeps it, not what it would remove
        return plan
    return _counted(plan, cascade.tallies(), paths)


def _counted(plan: DeletionPlan, removed: Mapping[str, int | Tally], paths: Iterable[Path]) -> DeletionPlan:
    names = {m._meta.label: str(m._meta.verbose_name_plural) for m in apps.get_models()}
    tallies = {label: n if isinstance(n, Tally) else Tally(n) for label, n in removed.items()}
    plan.rows = sorted(((names.get(label, label), n) for label, n in tallies.items() if n.n), key=lambda r: -r[1].n)
    plan.paths = [p for p in paths if p.exists()]
    plan.bytes_freed = sum(size(p) for p in plan.paths)
    return plan


def remove_paths(paths: Iterable[Path]) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def carry_out(plan: DeletionPlan, delete_rows: RowDeleter) -> None:
    """Delete the rows (all or none), then the files they pointed at."""
    if not plan.allowed:
        raise ValueError(f"{plan.subject} is needed by {', '.join(plan.blocked_by)}")
    with transaction.atomic():
        delete_rows()
    remove_paths(plan.paths)
    logger.info("deleted %s: %s bytes freed", describe(plan.subject), plan.bytes_freed)


def confirm_or_delete(request: HttpRequest, plan: DeletionPlan, delete: Callable[[], None], *, name: str,
                      action: str, back: str, done: str, keeps: str = "") -> HttpResponse:
    """GET: what the deletion removes and frees, or what keeps it; POST: delete, when nothing does (409 else)."""
    if request.method == "POST" and plan.allowed:
        delete()
        messages.success(request, f"Deleted {name}; {filesizeformat(plan.bytes_freed)} freed on disk.")
        return redirect(done)
    return render(request, "core/delete_confirm.html",
                  {"plan": plan, "name": name, "action": action, "back": back, "keeps": keeps},
                  status=409 if request.method == "POST" else 200)
