"""The cancel and resume buttons of every kind of run: the same guarded transition, the same answer.

A run's page posts here; the transition is `Run.mark_cancelled` or `Run.resume` (both guarded by the status the run
is in), so a click that arrives too late is a 400 saying why, never a silent no-op.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from webapp.core.decorators import View, admin_required
from webapp.core.models import Run

GetRun = Callable[[HttpRequest, int], Run]
NOT_ACTIVE = "Run {run.pk} is {run.status}; only queued or running runs can be cancelled."
NOT_RESUMABLE = "Run {run.pk} is {run.status}; only failed or cancelled runs can resume."


def _transition_view(get_run: GetRun, act: Callable[[Run], bool], refusal: str) -> View:
    @require_POST
    @admin_required
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        run = get_run(request, pk)
        if not act(run):
            return HttpResponseBadRequest(refusal.format(run=run))
        return redirect(run)

    return view


def cancel_view(get_run: GetRun, refusal: str = NOT_ACTIVE) -> View:
    """An admin's cancel: a queued run never starts, a running job stops at its next batch or progress report.
    `refusal` is formatted with the `run` when it is not active any more."""
    return _transition_view(get_run, lambda run: run.mark_cancelled(), refusal)


def resume_view(get_run: GetRun, refusal: str = NOT_RESUMABLE) -> View:
    """An admin's resume of a failed or cancelled run: queued again, its job skips (or resumes from) what is stored.
    `refusal` is formatted with the `run` when it is not failed or cancelled."""
    return _transition_view(get_run, lambda run: run.resume(), refusal)
