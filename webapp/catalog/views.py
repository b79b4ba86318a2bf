"""Catalog pages: datasets with ingest progress, the question list, a question with its clip, imports."""

from __future__ import annotations

from functools import partial

from django.apps import apps
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from webapp.catalog import queries
from webapp.catalog.forms import ImportForm, QuestionFilterForm, ReviewOverlapForm
from webapp.catalog.housekeeping import delete_dataset, plan_dataset_deletion
from webapp.catalog.imports import DatasetFormatMismatch, get_or_create_dataset, queue_upload
from webapp.catalog.ingest import reprocess
from webapp.catalog.leakage import shown_report
from webapp.catalog.models import Clip, Dataset, ImportRun, Question
from webapp.catalog.uploads import UploadLimit, upload_form_view
from webapp.core.decorators import admin_required, curator_required
from webapp.core.housekeeping import confirm_or_delete
from webapp.core.htmx import page_or_partial
from webapp.core.paging import IdsFirst
from webapp.core.recovery import job_is_alive

PAGE_SIZE = 50


def _get_dataset_for_user(request: HttpRequest, slug: str) -> Dataset:
    # Every curator sees every dataset today; this is the one place to narrow it (per-team datasets).
    return get_object_or_404(Dataset, slug=slug)


def _get_question_for_user(request: HttpRequest, pk: int) -> Question:
    return get_object_or_404(Question.objects.select_related("dataset", "clip"), pk=pk)


@require_GET
@curator_required
def datasets(request: HttpRequest) -> HttpResponse:
    show_archived = request.GET.get("archived") == "1"
    rows = [(d, queries.progress_of(d)) for d in queries.datasets_with_counts(archived=show_archived)]
    recent_imports = ImportRun.objects.select_related("dataset")[:10]
    template = page_or_partial(request, "catalog/datasets.html", "dataset-table")
    return render(request, template, {"rows": rows, "recent_imports": recent_imports, "show_archived": show_archived,
                                      "n_archived": Dataset.objects.filter(archived=True).count(),
                                      "polling": any(p.active for _, p in rows)})


@require_GET
@curator_required
def questions(request: HttpRequest, slug: str) -> HttpResponse:
    dataset = _get_dataset_for_user(request, slug)
    form = QuestionFilterForm(request.GET)
    if not form.is_valid():
        return HttpResponseBadRequest(f"Invalid filter: {form.errors.as_text()}")
    qs = form.filter(dataset.questions.select_related("clip")).order_by("id")
    page = Paginator(IdsFirst(qs), PAGE_SIZE).get_page(form.cleaned_data["page"] or 1)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "dataset": dataset, "form": form, "page": page, "query": query.urlencode(),
        "overlap_form": ReviewOverlapForm(instance=dataset),
        "types": dataset.questions.order_by().values_list("question_type", flat=True).distinct(),
        "relations": dataset.questions.order_by().values_list("question_relation", flat=True).distinct(),
        "leak_report": None,  # the report loads after the page (`leaks` below): at 500k questions it takes minutes
    }
    template = page_or_partial(request, "catalog/questions.html", "question-table")
    return render(request, template, context)


@require_GET
@curator_required
def leaks(request: HttpRequest, slug: str) -> HttpResponse:
    """The dataset page's split-leakage report, fetched by the page once it has loaded so the question list never
    waits for it; at size a background job computes it, and this fragment asks again until the job is done."""
    dataset = _get_dataset_for_user(request, slug)
    if not getattr(request, "htmx", False):  # a fragment: opened on its own, it is the dataset page's
        return redirect(dataset.get_absolute_url())
    return render(request, "catalog/questions.html#split-leakage",
                  {"dataset": dataset, "leak_report": shown_report(dataset)})


@require_POST
@admin_required
def review_overlap(request: HttpRequest, slug: str) -> HttpResponse:
    """Set how many curators review each question. It applies to the chains still pending: decided ones stay."""
    dataset = _get_dataset_for_user(request, slug)
    form = ReviewOverlapForm(request.POST, instance=dataset)
    if not form.is_valid():
        return HttpResponseBadRequest(f"Invalid review overlap: {form.errors.as_text()}")
    form.save()
    messages.success(request, f"{dataset.name}: each question is now reviewed by {dataset.review_overlap} "
                              f"curator{'s' if dataset.review_overlap > 1 else ''}.")
    return redirect(dataset.get_absolute_url())


@require_POST
@admin_required
def dataset_archive(request: HttpRequest, slug: str) -> HttpResponse:
    """Archive (`archived=1`) or bring back (`archived=0`) a dataset: hidden from the datasets page and the queue."""
    dataset = _get_dataset_for_user(request, slug)
    archive = request.POST.get("archived") == "1"
    Dataset.objects.filter(pk=dataset.pk).update(archived=archive)
    done = "archived: hidden from the datasets page and the review queue" if archive else "is back in both"
    messages.success(request, f"{dataset.name} {done}.")
    return redirect(dataset.get_absolute_url())


@require_http_methods(["GET", "POST"])
@admin_required
def dataset_delete(request: HttpRequest, slug: str) -> HttpResponse:
    """GET: what deleting the dataset removes and frees, or what keeps it; POST: delete it, when nothing does."""
    dataset = _get_dataset_for_user(request, slug)
    plan = plan_dataset_deletion(dataset)
    return confirm_or_delete(request, plan, partial(delete_dataset, plan), name=dataset.name,
                             action=reverse("catalog:dataset_delete", args=[dataset.slug]),
                             back=dataset.get_absolute_url(), done=reverse("catalog:datasets"))


@require_GET
@curator_required
def question(request: HttpRequest, pk: int) -> HttpResponse:
    q = _get_question_for_user(request, pk)
    siblings = q.dataset.questions.order_by("id")
    context = {
        "question": q, "clip": q.clip, "waveform": queries.waveform_path(q.clip),
        "previous": siblings.filter(id__lt=q.id).order_by("-id").first(),
        "next": siblings.filter(id__gt=q.id).first(),
    }
    for config in apps.get_app_configs():  # apps above catalog add their panels (curation: the chains)
        if panel := getattr(config, "question_context", None):
            context.update(panel(q, request.GET))
    return render(request, "catalog/question.html", context)


@require_POST
@admin_required
def reprocess_clip(request: HttpRequest, pk: int) -> HttpResponse:
    clip = get_object_or_404(Clip, pk=pk)
    if clip.status == Clip.Status.MISSING:
        return HttpResponseBadRequest("This clip has no media yet; import it with its media first.")
    if not reprocess([clip.pk], job_is_alive=job_is_alive):
        messages.info(request, "This clip is being processed right now; its job will store the result.")
    first = clip.questions.order_by("id").first()
    return redirect(first) if first else redirect("catalog:datasets")


@csrf_exempt  # only so the upload handler goes in before the CSRF check reads the body: upload_form_view checks it
@require_http_methods(["GET", "POST"])
@admin_required
@upload_form_view
def import_new(request: HttpRequest, limit: UploadLimit) -> HttpResponse:
    data, files = request.POST or None, request.FILES or None  # reading the body runs the upload handlers
    form = ImportForm(data, files, refused_upload=limit.message() if limit.refused else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            dataset = get_or_create_dataset(data["dataset"], data["source_format"])
        except DatasetFormatMismatch as exc:
            form.add_error("dataset", str(exc))
        else:
            run = queue_upload(dataset, data["annotations"], split=data["split"], media_dir=data["media_dir"],
                               allow_missing_media=data["allow_missing_media"], user=request.user)
            return redirect(run)
    return render(request, "catalog/import_new.html", {"form": form}, status=400 if form.errors else 200)


@require_GET
@curator_required
def import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(ImportRun.objects.select_related("dataset"), pk=pk)
    template = page_or_partial(request, "catalog/import_detail.html", "import-status")
    return render(request, template, {"run": run})
