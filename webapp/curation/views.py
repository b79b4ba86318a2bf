"""Generation and validation runs: launch (admins), watch progress, cancel, resume."""

from __future__ import annotations

import os
from functools import partial

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from webapp.catalog.uploads import UploadLimit, upload_form_view
from webapp.core.decorators import admin_required, curator_required
from webapp.core.estimates import estimate_fragment
from webapp.core.housekeeping import confirm_or_delete
from webapp.core.htmx import page_or_partial
from webapp.core.recovery import queue_answers_for
from webapp.core.run_views import cancel_view, resume_view
from webapp.curation.chain_imports import queue_chain_import
from webapp.curation.empty_states import run_notice
from webapp.curation.estimates import teacher_estimate, teacher_record, validation_estimate, validation_record
from webapp.curation.forms import ChainImportForm, GenerationRunForm, ValidationRunForm
from webapp.curation.housekeeping import delete_run, plan_run_deletion
from webapp.curation.models import GenerationRun
from webapp.curation.presenters import progress_in_words, verdict_counts_in_words
from webapp.curation.record import shown_verdict_counts
from webapp.curation.runs import launch_generation, launch_validation, policy_in_force
from webapp.curation.selection import selection


def _get_run_for_user(request: HttpRequest, pk: int) -> GenerationRun:
    return get_object_or_404(GenerationRun.objects.select_related("dataset", "source_run"), pk=pk)


@require_GET
@curator_required
def runs(request: HttpRequest) -> HttpResponse:
    rows = GenerationRun.objects.select_related("dataset", "source_run")[:200]
    polling = any(r.is_active for r in rows)
    template = page_or_partial(request, "curation/runs.html", "run-table")
    return render(request, template, {"runs": rows, "polling": polling})


@require_http_methods(["GET", "POST"])
@admin_required
def run_new(request: HttpRequest) -> HttpResponse:
    if request.GET.get("estimate"):  # the form changed: the estimate again, for what it says now
        return estimate_fragment(request, _teacher_estimate(GenerationRunForm(request.GET)))
    form = GenerationRunForm(request.POST or None, initial={"dataset": request.GET.get("dataset")})
    if request.method == "POST" and form.is_valid():
        run = launch_generation(form.cleaned_data, request.user, backend_options=form.backend_options())
        GenerationRun.objects.filter(pk=run.pk).update(estimate=teacher_record(*_teacher_inputs(form)))
        return redirect(run)
    return render(request, "curation/run_new.html", {"form": form, "title": "Teacher generation",
                                                     "estimate": _teacher_estimate(form)},
                  status=400 if form.errors else 200)


def _teacher_inputs(form: GenerationRunForm) -> tuple[object, str, int | None, int, str]:
    return (form["dataset"].value(), form["split"].value() or "", _number(form["limit"].value()),
            _number(form["k"].value()) or 1, str(form["model"].value() or ""))


def _teacher_estimate(form: GenerationRunForm) -> str:
    return teacher_estimate(*_teacher_inputs(form))


def _number(value: object) -> int | None:
    """A form value as a count for the estimate (what the user typed so far; the form validates it properly)."""
    return int(str(value)) if str(value or "").isdigit() else None


@require_http_methods(["GET", "POST"])
@admin_required
def validation_new(request: HttpRequest) -> HttpResponse:
    if request.GET.get("estimate"):
        return estimate_fragment(request, _validation_estimate(ValidationRunForm(request.GET)))
    form = ValidationRunForm(request.POST or None, initial={"source_run": request.GET.get("source")})
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        run = launch_validation(d["source_run"], d["validators"], d["judge_model"],
                                include_dropped=d["include_dropped"], user=request.user,
                                judge_backend=d["judge_backend"], backend_options=form.backend_options(),
                                policy=d["policy"])
        GenerationRun.objects.filter(pk=run.pk).update(
            estimate=validation_record(form["source_run"].value(), bool(form["include_dropped"].value())))
        return redirect(run)
    return render(request, "curation/run_new.html", {"form": form, "title": "Validation",
                                                     "estimate": _validation_estimate(form)},
                  status=400 if form.errors else 200)


def _validation_estimate(form: ValidationRunForm) -> str:
    return validation_estimate(form["source_run"].value(), bool(form["include_dropped"].value()))


@csrf_exempt  # only so the upload handler goes in before the CSRF check reads the body: upload_form_view checks it
@require_http_methods(["GET", "POST"])
@admin_required
@upload_form_view
def chain_import_new(request: HttpRequest, limit: UploadLimit) -> HttpResponse:
    form = ChainImportForm(request.POST or None, request.FILES or None, initial={"dataset": request.GET.get("dataset")},
                           refused_upload=limit.message() if limit.refused else None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        run, created = queue_chain_import(d["dataset"], d["chains"], model=d["model"], prompt=d["prompt"],
                                          prompt_version=d["prompt_version"], validate_after=d["validate_after"],
                                          user=request.user)
        if not created:
            messages.info(request, f"This file was imported into {d['dataset']} already, as run #{run.pk}: "
                                   "nothing changed.")
        return redirect(run)
    return render(request, "curation/run_new.html", {"form": form, "title": "Chain import", "multipart": True},
                  status=400 if form.errors else 200)


def _same_model(a: str, b: str) -> bool:
    """One checkpoint named two ways: the same folder however written, or a local copy named like a hub id."""
    def norm(name: str) -> str:
        return os.path.realpath(os.path.expanduser(name.strip()))

    def base(name: str) -> str:
        return os.path.basename(name.strip().rstrip("/")).lower()

    return bool(a.strip() and b.strip()) and (norm(a) == norm(b) or base(a) == base(b))


def judge_is_student(run: GenerationRun) -> bool:
    """A validation whose LALM judge is the student's base model grades the student's prior, not the audio."""
    return run.kind == GenerationRun.Kind.VALIDATION and _same_model(run.model, settings.STUDENT_MODEL)


@require_GET
@curator_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = _get_run_for_user(request, pk)
    answered = queue_answers_for(run)  # a killed worker shows up as failed (and resumable) on the next look
    validation = run.kind == GenerationRun.Kind.VALIDATION
    return render(request, page_or_partial(request, "curation/run_detail.html", "run-status"),
                  {"run": run, "queue_unreachable": not answered, "judge_is_student": judge_is_student(run),
                   "shards": list(run.shards.all()),
                   "policy": policy_in_force(run), "selection": selection(run), "notice": run_notice(run),
                   "row_errors": run.progress_metrics.get("errors") if run.kind == run.Kind.IMPORTED else None,
                   "progress_label": progress_in_words(run),
                   "verdicts_in_words": verdict_counts_in_words(shown_verdict_counts(run)) if validation else ""})


@require_http_methods(["GET", "POST"])
@admin_required
def run_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the chains, verdicts and reviews deleting the run removes, or what keeps it; POST: delete it."""
    run = _get_run_for_user(request, pk)
    plan = plan_run_deletion(run)
    return confirm_or_delete(request, plan, partial(delete_run, plan), name=str(run),
                             action=reverse("curation:run_delete", args=[pk]), back=run.get_absolute_url(),
                             done=reverse("curation:runs"))


run_cancel = cancel_view(_get_run_for_user)
run_resume = resume_view(_get_run_for_user)
