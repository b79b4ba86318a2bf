"""Review pages: the queue with filters and bulk actions, the next item, the item page, decisions and undo, and the
dashboard (progress and agreement, as charts with the numbers beside them).

Every page works without JavaScript (forms post and redirect); with htmx, decisions swap #review-panel only, so
the playing <video> is never reloaded, and finishing a question redirects to the next one (auto-advance).
"""

from __future__ import annotations

import json
import wave
from typing import TypeVar

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from webapp.catalog.models import Dataset, Question
from webapp.core import storage
from webapp.core.decorators import admin_required, curator_required
from webapp.core.htmx import page_or_partial
from webapp.core.paging import EstimatedCountPaginator, IdsFirst, count_or_estimate
from webapp.core.prepared import Prepared
from webapp.core.queueing import REDIS_DOWN
from webapp.curation import review
from webapp.curation.empty_states import why_queue_empty
from webapp.curation.models import BulkAction, Chain, StudentMiss
from webapp.curation.review import bulk as bulk_actions
from webapp.curation.review import dashboards, priority
from webapp.curation.review import spectrogram as spectrogram_frames
from webapp.curation.review.calibration_panel import calibration_cards
from webapp.curation.review.forms import (
    FILTER_FIELDS,
    BulkForm,
    DecisionForm,
    NextForm,
    ReviewFilterForm,
    ReviewOrderForm,
    UndoForm,
    filter_form_from_query,
    held_lookup,
    queue_filter,
)
from webapp.curation.review.panel import (
    Refused,
    item_url,
    next_url,
    panel_context,
    previous_in_session,
    remember_visit,
)

PAGE_SIZE = 50
_T = TypeVar("_T")


_QUESTION = Prepared[Question](lambda pk: Question.objects.select_related("dataset", "clip").filter(pk=pk), "int")
_MISSES = Prepared[StudentMiss](lambda question_id: StudentMiss.objects.filter(question_id=question_id)
                                .order_by("-id")[:3], "int")
_CHAIN = Prepared[Chain](lambda pk: Chain.objects.select_related("question__dataset").filter(pk=pk), "int")


def _get_question_for_user(request: HttpRequest, pk: int) -> Question:
    # Every curator sees every dataset today; this is the one place to narrow it (per-team datasets).
    return _found(_QUESTION.first(pk))


def _get_chain_for_user(request: HttpRequest, pk: int) -> Chain:
    return _found(_CHAIN.first(pk))


def _found(obj: _T | None) -> _T:
    if obj is None:
        raise Http404("No such object.")
    return obj


def _bad_filter(form: ReviewFilterForm) -> HttpResponse:
    return HttpResponseBadRequest(f"Invalid filter: {form.errors.as_text()}")


def _render_item(request: HttpRequest, question: Question, query: str, status: int = 200,
                 **extra: object) -> HttpResponse:
    template = page_or_partial(request, "curation/review_item.html", "review-panel")
    misses = SimpleLazyObject(lambda: _MISSES.all(question.pk))  # lazy: the full page reads it, a swap does not
    return render(request, template, panel_context(request, question, query, student_misses=misses, **extra),
                  status=status)


# --- queue, next item, item page ----------------------------------------------------------------------------


@require_GET
@curator_required
def queue(request: HttpRequest) -> HttpResponse:
    form = ReviewFilterForm(request.GET, user=request.user)
    if not form.is_valid():
        return _bad_filter(form)
    chains = form.chains().select_related("question", "question__dataset").order_by("question_id", "id")
    page = EstimatedCountPaginator(IdsFirst(chains), PAGE_SIZE).get_page(form.cleaned_data["page"] or 1)
    context = {"form": form, "page": page, "query": form.query(), "reasons": review.REJECT_REASONS,
               "bulk_runs": BulkAction.objects.filter(created_by=request.user)[:5]}
    template = page_or_partial(request, "curation/review_queue.html", "queue-table")
    return render(request, template, context)


@require_GET
@curator_required
def next_item(request: HttpRequest) -> HttpResponse:
    form, step = queue_filter(request.GET, request.user), NextForm(request.GET)
    if not form.is_valid():
        return _bad_filter(form)
    if not step.is_valid():
        return HttpResponseBadRequest(f"Invalid request: {step.errors.as_text()}")
    question = review.claim_next(request.user, form.chains(), after=step.cleaned_data["after"],
                                 held=held_lookup(form))
    if question is None:
        dataset = form.cleaned_data.get("dataset")
        filtered = any(form.cleaned_data.get(name) for name in FILTER_FIELDS if name != "dataset")
        why = why_queue_empty(request.user, dataset_id=dataset.pk if dataset else None, filtered=filtered)
        return render(request, "curation/review_empty.html", {"query": form.query(), "why": why})
    return redirect(item_url(question.pk, form.query()))


@require_GET
@curator_required
def item(request: HttpRequest, pk: int) -> HttpResponse:
    question = _get_question_for_user(request, pk)
    form = queue_filter(request.GET)
    if not form.is_valid():
        return _bad_filter(form)
    # Opening a free question (or a free overlap slot of it) takes it; a held one is read-only.
    claimed = review.claim(request.user, question.pk, question.dataset.review_overlap)
    if claimed is not None and claimed[1]:  # newly taken (not a renewal): hand back the one held before
        review.release_others(request.user, keep_question_id=question.pk)
    remember_visit(request.session, question.pk)
    return _render_item(request, question, form.query(), lease=claimed[0] if claimed else None)


@require_GET
@curator_required
def previous(request: HttpRequest, pk: int) -> HttpResponse:
    """`k`: the question opened before this one in this session (skipped ones included); at the session's first,
    the question this curator reviewed last before this one, looked up when asked for (not on every page)."""
    question = _get_question_for_user(request, pk)
    form = ReviewFilterForm(request.GET)
    if not form.is_valid():
        return _bad_filter(form)
    previous_id = previous_in_session(request.session, question.pk) or review.previous_question_id(
        request.user, question
    )
    if previous_id is None:
        messages.info(request, "You have not reviewed another question before this one.")
    return redirect(item_url(previous_id or question.pk, form.query()))


@require_GET
@curator_required
def spectrogram(request: HttpRequest, pk: int) -> HttpResponse:
    """The question's clip as spectrogram frames for wavesurfer's `frequenciesDataUrl` (no decoding in the browser)."""
    question = _get_question_for_user(request, pk)
    if not question.clip.audio_path:
        raise Http404("this clip has no extracted audio")
    try:
        path = storage.resolve(question.clip.audio_path)
        rows = spectrogram_frames.spectrogram_rows(path)
    except (storage.UnsafePath, OSError, ValueError, EOFError, wave.Error) as exc:
        raise Http404(f"no spectrogram for this clip: {exc}") from None
    response = JsonResponse(rows, safe=False)
    response["Cache-Control"] = "private, max-age=3600"
    return response


# --- decisions ----------------------------------------------------------------------------------------------


def _after_write(request: HttpRequest, chain: Chain, query: str, message: str, done: bool) -> HttpResponse:
    """Auto-advance once no chain of the question is pending; otherwise show the question again, the next pending
    chain after this one selected."""
    question = chain.question
    target = next_url(query, after=question.pk) if done else item_url(question.pk, query)
    if not request.htmx:
        messages.success(request, message)
        return redirect(target)
    if done:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return _render_item(request, question, query, notice=message, focus=chain.pk, advance=True)


def _refused(request: HttpRequest, chain: Chain, query: str, exc: review.ReviewError) -> HttpResponse:
    """A refused write (409 stale or lease held, 400 invalid) shows its message on that chain's card, the chain
    still selected, and reopens only the form it came from with what was typed in it: a refused accept used to
    open an empty editor."""
    post = request.POST
    refused = Refused(chain.pk, exc.message, post.get("action", ""), post.get("text", ""), post.get("reason", ""),
                      post.get("note", ""))
    return _render_item(request, chain.question, query, status=exc.status, error=exc.message, focus=chain.pk,
                        refused=refused)


@require_POST
@curator_required
def decide(request: HttpRequest, pk: int) -> HttpResponse:
    chain = _get_chain_for_user(request, pk)
    form = DecisionForm(request.POST)
    query = request.POST.get("queue", "")
    if not form.is_valid():
        return _refused(request, chain, query, review.ReviewError(form.errors.as_text()))
    data, overlap = form.cleaned_data, chain.question.dataset.review_overlap
    query = queue_filter(QueryDict(data["queue"])).query()  # re-encoded from validated fields only
    try:
        written = review.decide(request.user, chain.pk, data["version"], data["action"], reason=data["reason"],
                                note=data["note"], edited_text=data["text"], question_id=chain.question_id,
                                overlap=overlap)
    except review.ReviewError as exc:
        return _refused(request, chain, query, exc)
    priority.note_decision(chain.question.dataset_id)
    verb = written.get_action_display().lower()
    card, done = review.card_number_and_done(chain, request.user, overlap)
    return _after_write(request, chain, query, f"Chain #{card}: {verb} → {written.to_decision}.", done)


@require_POST
@admin_required
def order(request: HttpRequest, slug: str) -> HttpResponse:
    """Set a dataset's review order (likely hallucinations first, or import order) and queue its re-ranking."""
    dataset = get_object_or_404(Dataset, slug=slug)
    form = ReviewOrderForm(request.POST, instance=dataset)
    if not form.is_valid():
        return HttpResponseBadRequest(f"Invalid review order: {form.errors.as_text()}")
    form.save()
    try:
        priority.queue_refresh(dataset.pk)
        messages.success(request, f"{dataset.name}: the queue now serves {dataset.get_review_order_display().lower()}"
                                  "; a worker re-ranks its pending questions.")
    except REDIS_DOWN:
        messages.warning(request, f"{dataset.name}: review order saved, but the queue is unreachable, so the pending "
                                  "questions keep their order until `manage.py refresh_review_priorities` runs.")
    return redirect(dataset.get_absolute_url())


@require_POST
@curator_required
def undo(request: HttpRequest, pk: int) -> HttpResponse:
    chain = _get_chain_for_user(request, pk)
    form = UndoForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(f"Invalid undo: {form.errors.as_text()}")
    query = queue_filter(QueryDict(form.cleaned_data["queue"])).query()
    try:
        written = review.undo(request.user, chain.pk, form.cleaned_data["version"], question_id=chain.question_id,
                              overlap=chain.question.dataset.review_overlap)
    except review.ReviewError as exc:
        return _refused(request, chain, query, exc)
    message = f"Undone: chain #{review.card_number(chain)} is {written.to_decision} again."
    if not request.htmx:
        messages.success(request, message)
        return redirect(item_url(chain.question_id, query))
    response = _render_item(request, chain.question, query, notice=message, focus=chain.pk)  # the undone chain
    if reverse("review:item", args=[chain.question_id]) not in request.headers.get("HX-Current-URL", ""):
        response = HttpResponse(status=204)  # undoing the item just left: go back to it
        response["HX-Redirect"] = item_url(chain.question_id, query)
    return response


# --- bulk ---------------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@curator_required
def bulk(request: HttpRequest) -> HttpResponse:
    form = BulkForm(request.POST or request.GET)
    if not form.is_valid():
        return HttpResponseBadRequest(f"Invalid bulk action: {form.errors.as_text()}")
    filters = filter_form_from_query(form.cleaned_data["queue"], request.user)
    if not filters.is_valid():
        return _bad_filter(filters)
    data, chains = form.cleaned_data, filters.chains()
    shown = count_or_estimate(chains)  # over 4M chains an exact count takes seconds: "about N" above the threshold
    if request.method == "GET" or not bulk_actions.still_confirmed(data["confirm"], shown):  # a changed count asks
        changed = request.method == "POST" and data["confirm"] is not None  # again
        return render(request, "curation/review_bulk_confirm.html",
                      {"form": form, "count": shown.n, "shown": shown, "query": filters.query(), "changed": changed,
                       "data": data}, status=409 if changed else 200)
    count = chains.count() if shown.estimated else shown.n  # the exact number, counted once, when it starts
    run = bulk_actions.start(data, filters, count, request.user)
    return redirect("review:bulk_detail", pk=run.pk)


@require_GET
@curator_required
def bulk_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(BulkAction, pk=pk)
    template = page_or_partial(request, "curation/review_bulk.html", "bulk-status")
    return render(request, template, {"run": run, "filters_json": json.dumps(run.filters)})


# --- dashboard ----------------------------------------------------------------------------------------------


@require_GET
@curator_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    by_dataset, by_curator = dashboards.progress_by_dataset(user), dashboards.progress_by_curator(user)
    by_day, between = dashboards.progress_by_day(user=user), dashboards.curator_agreement(user)
    pairs = [{"pair": f"{p.a} · {p.b}", "kappa": p.kappa, "n": p.n} for p in between.pairs]
    context = {
        "by_dataset": by_dataset, "by_curator": by_curator, "by_day": by_day,
        "day_totals": dashboards.day_totals(by_day),
        "agreement": dashboards.validator_agreement(), "curator_labels": dashboards.CURATOR_LABELS,
        "between": between, "calibrations": calibration_cards(),
        "chart_data": {"datasets": by_dataset, "curators": by_curator, "days": by_day, "pairs": pairs},
    }
    return render(request, "curation/review_dashboard.html", context)
