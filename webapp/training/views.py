"""Snapshots (freeze, watch, download) and training runs (launch, watch curves, cancel, resume, compare)."""

from __future__ import annotations

from functools import partial

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from webapp.core import storage
from webapp.core.decorators import admin_required, curator_required
from webapp.core.estimates import estimate_fragment
from webapp.core.housekeeping import confirm_or_delete
from webapp.core.htmx import page_or_partial
from webapp.core.ranges import ranged_file_response
from webapp.core.recovery import queue_answers_for
from webapp.core.run_views import cancel_view, resume_view
from webapp.training import adapters, hard_items, housekeeping, predictions, snapshots, storage_report
from webapp.training.comparison import as_csv, as_markdown, comparison
from webapp.training.estimates import training_estimate, training_record
from webapp.training.forms import CompareForm, SnapshotForm, TrainingRunForm
from webapp.training.models import DatasetSnapshot, MetricPoint, TrainingRun
from webapp.training.runs import launch, lineage


def _get_snapshot_for_user(request: HttpRequest, pk: int) -> DatasetSnapshot:
    return get_object_or_404(DatasetSnapshot.objects.select_related("dataset", "created_by"), pk=pk)


def _get_run_for_user(request: HttpRequest, pk: int) -> TrainingRun:
    return get_object_or_404(TrainingRun.objects.select_related("parent", "snapshot__dataset", "created_by"), pk=pk)


# --- snapshots ----------------------------------------------------------------------------------------------
@require_GET
@curator_required
def snapshot_list(request: HttpRequest) -> HttpResponse:
    rows = DatasetSnapshot.objects.select_related("dataset")[:200]
    template = page_or_partial(request, "training/snapshots.html", "snapshot-table")
    return render(request, template, {"snapshots": rows, "polling": any(s.is_active for s in rows)})


@require_http_methods(["GET", "POST"])
@admin_required
def snapshot_new(request: HttpRequest) -> HttpResponse:
    form = SnapshotForm(request.POST or None, initial={"dataset": request.GET.get("dataset")})
    if request.method == "POST" and form.is_valid():
        return redirect(snapshots.create_snapshot(form.cleaned_data, request.user))
    return render(request, "training/snapshot_new.html", {"form": form}, status=400 if form.errors else 200)


@require_GET
@curator_required
def snapshot_detail(request: HttpRequest, pk: int) -> HttpResponse:
    snapshot = _get_snapshot_for_user(request, pk)
    answered = queue_answers_for(snapshot)
    template = page_or_partial(request, "training/snapshot_detail.html", "snapshot-status")
    return render(request, template, {"snapshot": snapshot, "runs": snapshot.runs.all()[:50],
                                      "queue_unreachable": not answered})


@require_GET
@curator_required
def snapshot_download(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    snapshot = _get_snapshot_for_user(request, pk)
    if not snapshot.export_dir or snapshot.export_file(name) is None:
        raise Http404("No such export file.")
    path = storage.resolve(f"{snapshot.export_dir}/{name}")
    if not path.is_file():
        raise Http404("The export file is missing from storage.")
    response = ranged_file_response(request, path)
    response["Content-Disposition"] = f'attachment; filename="{snapshot.dataset.slug}-v{snapshot.version}-{name}"'
    return response


snapshot_cancel = cancel_view(
    _get_snapshot_for_user, "Snapshot {run} is {run.status}; only queued or building ones can be cancelled.")
snapshot_resume = resume_view(
    _get_snapshot_for_user, "Snapshot {run} is {run.status}; only failed or cancelled ones can resume.")


@require_http_methods(["GET", "POST"])
@admin_required
def snapshot_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: what deleting the snapshot removes and frees, or the runs that keep it; POST: delete it."""
    snapshot = _get_snapshot_for_user(request, pk)
    plan = housekeeping.plan_snapshot_deletion(snapshot)
    return confirm_or_delete(request, plan, partial(housekeeping.delete_snapshot, plan), name=f"snapshot {snapshot}",
                             action=reverse("training:snapshot_delete", args=[pk]), back=snapshot.get_absolute_url(),
                             done=reverse("training:snapshots"))


# --- training runs ------------------------------------------------------------------------------------------
@require_GET
@curator_required
def run_list(request: HttpRequest) -> HttpResponse:
    rows = TrainingRun.objects.select_related("parent", "snapshot__dataset")[:200]
    template = page_or_partial(request, "training/runs.html", "run-table")
    return render(request, template, {"runs": rows, "polling": any(r.is_active for r in rows)})


@require_http_methods(["GET", "POST"])
@admin_required
def run_new(request: HttpRequest) -> HttpResponse:
    if request.GET.get("estimate"):  # the form changed: the estimate again, for what it says now
        return estimate_fragment(request, _training_estimate(TrainingRunForm(request.GET)))
    initial = {k: request.GET.get(k) for k in ("stage", "parent", "snapshot") if request.GET.get(k)}
    form = TrainingRunForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        run = launch(form.cleaned_data, request.user)
        TrainingRun.objects.filter(pk=run.pk).update(estimate=training_record(*_training_inputs(form)))
        return redirect(run)
    return render(request, "training/run_new.html", {"form": form, "estimate": _training_estimate(form)},
                  status=400 if form.errors else 200)


def _training_inputs(form: TrainingRunForm) -> tuple[object, object, object, object]:
    return form["stage"].value(), form["recipe"].value(), form["overrides"].value(), form["base_model"].value()


def _training_estimate(form: TrainingRunForm) -> str:
    return training_estimate(*_training_inputs(form))


@require_GET
@curator_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = _get_run_for_user(request, pk)
    answered = queue_answers_for(run)  # a killed work-horse shows up as failed (and resumable) on the next look
    template = page_or_partial(request, "training/run_detail.html", "run-status")
    return render(request, template, {"run": run, "lineage": lineage(run)[1:], "queue_unreachable": not answered,
                                      "shards": list(run.shards.all()),
                                      "hard_items_refusal": hard_items.refusal(run),
                                      "names": MetricPoint.objects.filter(run=run).values_list("name", flat=True)
                                      .distinct().order_by("name")})


@require_http_methods(["GET", "POST"])
@admin_required
def run_checkpoints_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: the disk the run's checkpoints take, or the active runs that need them; POST: free it, keep the run."""
    run = _get_run_for_user(request, pk)
    if run.stage == TrainingRun.Stage.EVAL:
        raise Http404("An evaluation keeps no checkpoints.")
    plan = housekeeping.plan_checkpoint_deletion(run)
    return confirm_or_delete(request, plan, partial(housekeeping.delete_checkpoints, plan),
                             name=f"the checkpoints of {run}",
                             action=reverse("training:run_checkpoints_delete", args=[pk]),
                             back=run.get_absolute_url(), done=run.get_absolute_url(),
                             keeps="The run stays, with its metrics, results and predictions; no run can start "
                                   "from its adapter afterwards.")


@require_GET
@curator_required
def run_metrics(request: HttpRequest, pk: int) -> JsonResponse:
    """Every series of the run as {name: [[step, value], ...]}; `?after=STEP` returns only newer points."""
    run = _get_run_for_user(request, pk)
    try:
        after = int(request.GET.get("after", -1))
    except ValueError:
        return JsonResponse({"error": "after must be an integer step"}, status=400)
    series: dict[str, list[list[float]]] = {}
    for name, step, value in MetricPoint.objects.filter(run=run, step__gt=after).order_by("name", "step") \
            .values_list("name", "step", "value").iterator(chunk_size=5000):
        series.setdefault(name, []).append([step, value])
    return JsonResponse({"status": run.status, "active": run.is_active, "series": series})


@require_GET
@curator_required
def run_predictions(request: HttpRequest, pk: int) -> HttpResponse:
    run = _get_run_for_user(request, pk)
    rel = run.results.get("predictions")
    if run.stage != TrainingRun.Stage.EVAL or not rel:
        raise Http404("This run has no predictions.")
    show = request.GET.get("show", "all")
    if show not in predictions.SHOWS:
        return HttpResponseBadRequest("show must be all, wrong or right")
    rows, unreadable = predictions.rows(storage.resolve(rel), show)  # a page parses its 50 lines, not the file
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    return render(request, "training/predictions.html",
                  {"run": run, "page": page, "show": show, "unreadable": unreadable})


@require_GET
@admin_required
def disk_usage(request: HttpRequest) -> HttpResponse:
    """What the deployment keeps on disk, per dataset, snapshot export and run (training/storage_report.py)."""
    return render(request, "training/storage.html", {"report": storage_report.report()})


@require_http_methods(["POST"])
@curator_required
def run_hard_items(request: HttpRequest, pk: int) -> HttpResponse:
    """One click: the evaluation's misses to a review filter, shown with the student's output beside the chains."""
    run = _get_run_for_user(request, pk)
    try:
        sent = hard_items.send_to_review(run)
    except hard_items.NotSendable as exc:
        return HttpResponseBadRequest(f"Not sent to review: {exc}.")
    messages.success(request, f"Sent to review: {sent.wrong} wrong and {sent.silent_only} wrong only with the audio "
                              f"(right when silenced)" + (f"; {sent.unknown} no longer in the catalog" if sent.unknown
                                                         else "") + ".")
    return redirect(f"{reverse('review:queue')}?hard={run.pk}&decision=any")


@require_GET
@curator_required
def adapter_download(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """The trained adapter and the run's config as one zip, streamed from the run's own checkpoint folder."""
    run = _get_run_for_user(request, pk)
    folder = adapters.adapter_folder(run)
    if folder is None:
        raise Http404("This run has no adapter in storage.")
    response = StreamingHttpResponse(adapters.zip_stream(run, folder), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{run.stage}-{run.pk}-adapter.zip"'
    return response


run_cancel = cancel_view(_get_run_for_user)
run_resume = resume_view(_get_run_for_user)


@require_GET
@curator_required
def compare(request: HttpRequest) -> HttpResponse:
    form = CompareForm(request.GET or None)
    if request.GET and not form.is_valid():
        return HttpResponseBadRequest("Choose evaluation runs that succeeded.")
    chosen = list(form.cleaned_data["runs"]) if request.GET else []
    runs = sorted(chosen, key=lambda r: r.pk) or list(
        TrainingRun.objects.filter(stage="eval", status="succeeded").select_related("parent__parent")
        .order_by("-pk")[:8])[::-1]
    data = comparison(runs)
    fmt = request.GET.get("format", "")
    if fmt in {"csv", "md"}:
        body = as_csv(data) if fmt == "csv" else as_markdown(data)
        response = HttpResponse(body, content_type="text/csv" if fmt == "csv" else "text/markdown; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="comparison.{fmt}"'
        return response
    if fmt:
        return HttpResponseBadRequest("format is csv or md")
    return render(request, "training/compare.html", {"form": form, "query": request.GET.urlencode(), **data})


@require_GET
@curator_required
def predictions_file(request: HttpRequest, pk: int) -> FileResponse | HttpResponse:
    run = _get_run_for_user(request, pk)
    rel = run.results.get("predictions")
    if not rel:
        raise Http404("This run has no predictions.")
    return ranged_file_response(request, storage.resolve(rel))
