"""Review pages: the queue with filters and bulk actions, the next item, the item page, decisions and undo.

Every page works without JavaScript (forms post and redirect); with htmx, decisions swap #review-panel only, so
the playing <video> is never reloaded, and finishing a question redirects to the next one (auto-advance).
"""

from __future__ import annotations

import json
import string
import wave
from dataclasses import dataclass, field
from urllib.parse import urlencode

import django_rq
from django.contrib import messages
from django.contrib.auth.models import AbstractBaseUser
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from webapp.catalog.models import Question
from webapp.core import storage
from webapp.core.decorators import curator_required
from webapp.curation import review, review_spectrogram
from webapp.curation.models import BulkAction, Chain, Lease, Review, Verdict
from webapp.curation.presenters import Segment, highlight
from webapp.curation.review_forms import (
    BulkForm,
    DecisionForm,
    NextForm,
    ReviewFilterForm,
    UndoForm,
    filter_form_from_query,
)
from webapp.curation.review_jobs import bulk_job

PAGE_SIZE = 50
# The reject reasons as <option>s, escaped once here instead of once per chain card on every item page.
REASON_OPTIONS = format_html_join("", '<option value="{}">{}</option>', review.REJECT_REASONS)
BULK_INLINE_MAX = 200


def _get_question_for_user(request: HttpRequest, pk: int) -> Question:
    # Every curator sees every dataset today; this is the one place to narrow it (per-team datasets).
    return get_object_or_404(Question.objects.select_related("dataset", "clip"), pk=pk)


def _get_chain_for_user(request: HttpRequest, pk: int) -> Chain:
    return get_object_or_404(Chain.objects.select_related("question__dataset"), pk=pk)


def _bad_filter(form: ReviewFilterForm) -> HttpResponse:
    return HttpResponseBadRequest(f"Invalid filter: {form.errors.as_text()}")


def _item_url(question_id: int, query: str) -> str:
    url = reverse("review:item", args=[question_id])
    return f"{url}?{query}" if query else url


def _next_url(query: str, after: int | None = None) -> str:
    params = query + (("&" if query else "") + urlencode({"after": after}) if after else "")
    return reverse("review:next") + (f"?{params}" if params else "")


# --- presentation -------------------------------------------------------------------------------------------


@dataclass
class ItemChain:
    """A chain card as this curator sees it: with review overlap, `decision` and `version` are the curator's own
    stream's (and while the study is blind, so are `state` and the text); otherwise the chain's."""

    index: int
    chain: Chain
    state: review.ChainState
    verdicts: list[Verdict]
    segments: list[Segment] = field(default_factory=list)
    draft: str | None = None  # a refused edit, shown again in its open editor
    decision: str = Chain.Decision.PENDING
    version: int = 0

    @property
    def decision_display(self) -> str:
        return Chain.Decision(self.decision).label

    @property
    def answer_index(self) -> int | None:
        revision = self.state.revision
        return revision.parsed_answer if revision is not None else self.chain.parsed_answer

    @property
    def answer_letter(self) -> str:
        index = self.answer_index
        return string.ascii_uppercase[index] if index is not None and index < 26 else ""

    @property
    def is_correct(self) -> bool | None:
        revision = self.state.revision
        return revision.is_correct if revision is not None else self.chain.is_correct


def _item_chains(question: Question, user: AbstractBaseUser) -> tuple[list[ItemChain], list[Review], bool]:
    """The question's kept chains with their state, its history (oldest first), and whether the page is blind:
    three queries.

    One history query serves both the per-chain state (replayed in version order) and the history table. Under
    review overlap, while any chain still waits for its curators, the page is blind: each curator sees only
    their own decisions, edits and history, so no one is swayed by another's call.
    """
    verdicts = Prefetch("verdicts", Verdict.objects.defer("raw_output"))
    chains = list(question.chains.filter(kept=True).prefetch_related(verdicts).order_by("run_id", "sample_index"))
    overlap = question.dataset.review_overlap
    blind = overlap > 1 and any(c.decision == Chain.Decision.PENDING for c in chains)
    by_id = {c.pk: c for c in chains}
    history_qs = Review.objects.filter(chain__question=question)
    if blind:
        history_qs = history_qs.filter(curator=user)
    history = list(history_qs.select_related("revision", "curator").order_by("created_at", "id"))
    reviews: dict[int, list[Review]] = {c.pk: [] for c in chains}
    cards = {c.pk: i for i, c in enumerate(chains, start=1)}
    for r in history:
        r.card = cards.get(r.chain_id)  # the chain's card number, as the notices say it
        if r.chain_id in by_id:
            r.chain = by_id[r.chain_id]
            reviews[r.chain_id].append(r)
    items = []
    for i, chain in enumerate(chains, start=1):
        verdicts_ = sorted(chain.verdicts.all(), key=lambda v: -v.pk)
        ordered = sorted(reviews[chain.pk], key=lambda r: r.chain_version)
        state = review.ChainState(chain=chain, stack=review.effective_stack(ordered))
        decision, version = chain.decision, chain.version
        if overlap > 1:
            mine = review.own_stack(user.pk, state.stack)
            version = review.stream_version(user.pk, ordered)
            if blind:
                state = review.ChainState(chain=chain, stack=mine)
                decision = mine[-1].to_decision if mine else Chain.Decision.PENDING
        claims = verdicts_[0].claims if verdicts_ and state.revision is None else []
        items.append(ItemChain(i, chain, state, verdicts_, highlight(state.text, claims), decision=decision,
                               version=version))
    return items, history, blind


def _undo_target(request: HttpRequest, question: Question, chains: list[ItemChain],
                 history: list[Review]) -> tuple[Chain | None, int]:
    """What `u` takes back, as review.last_undoable says, and the version to send with it; answered from the
    history already loaded when it can: my newest decision on this question if still in force, else my newest
    one anywhere (the item just left)."""
    mine = [r for r in history if r.curator_id == request.user.pk and r.action != Review.Action.UNDO]
    cards = {ic.chain.pk: ic for ic in chains}
    overlap = question.dataset.review_overlap
    if mine and mine[-1].chain_id in cards:
        card = cards[mine[-1].chain_id]
        if review.own_stack(request.user.pk, card.state.stack) if overlap > 1 else card.state.stack:
            return mine[-1].chain, card.version
    latest = (Review.objects.filter(curator=request.user).exclude(action=Review.Action.UNDO)
              .select_related("chain__question__dataset").order_by("-created_at", "-id").first())
    if latest is None or (mine and latest.pk == mine[-1].pk):
        return None, 0
    chain, overlap = latest.chain, latest.chain.question.dataset.review_overlap
    reviews = list(chain.reviews.select_related("revision", "curator").order_by("chain_version"))
    if not review.undoable(request.user, chain, overlap, reviews):
        return None, 0
    return chain, review.stream_version(request.user.pk, reviews) if overlap > 1 else chain.version


def _csrf_input(request: HttpRequest) -> str:
    """The CSRF hidden input, masked once: {% csrf_token %} masks the token afresh at each of the 33 forms on an
    item page (the csrf context processor is lazy, not cached), a third of the panel's render time."""
    return format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', get_token(request))


def _panel_context(request: HttpRequest, question: Question, query: str, edit_draft: dict[int, str] | None = None,
                   lease: Lease | None = None, **extra: object) -> dict[str, object]:
    lease = lease or review.lease_holder(question.pk, request.user)
    chains, history, blind = _item_chains(question, request.user)
    for ic in chains:
        ic.draft = (edit_draft or {}).get(ic.chain.pk)
    undo_chain, undo_version = _undo_target(request, question, chains, history)
    return {
        "question": question, "clip": question.clip, "chains": chains, "queue": query, "blind": blind,
        "lease": lease, "mine": lease is not None and lease.curator_id == request.user.pk,
        "history": history[::-1][:50], "undo_chain": undo_chain, "undo_version": undo_version,
        "reason_options": REASON_OPTIONS, "csrf_input": _csrf_input(request),
        "next_url": _next_url(query, after=question.pk), **extra,
    }


def _render_item(request: HttpRequest, question: Question, query: str, status: int = 200,
                 **extra: object) -> HttpResponse:
    template = "curation/review_item.html#review-panel" if request.htmx else "curation/review_item.html"
    return render(request, template, _panel_context(request, question, query, **extra), status=status)


# --- queue, next item, item page ----------------------------------------------------------------------------


@require_GET
@curator_required
def queue(request: HttpRequest) -> HttpResponse:
    form = ReviewFilterForm(request.GET)
    if not form.is_valid():
        return _bad_filter(form)
    chains = form.chains().select_related("question", "question__dataset").order_by("question_id", "id")
    page = Paginator(chains, PAGE_SIZE).get_page(form.cleaned_data["page"] or 1)
    context = {"form": form, "page": page, "query": form.query(), "reasons": review.REJECT_REASONS,
               "bulk_runs": BulkAction.objects.filter(created_by=request.user)[:5]}
    template = "curation/review_queue.html#queue-table" if request.htmx else "curation/review_queue.html"
    return render(request, template, context)


@require_GET
@curator_required
def next_item(request: HttpRequest) -> HttpResponse:
    form, step = ReviewFilterForm(request.GET), NextForm(request.GET)
    if not form.is_valid():
        return _bad_filter(form)
    if not step.is_valid():
        return HttpResponseBadRequest(f"Invalid request: {step.errors.as_text()}")
    question = review.claim_next(request.user, form.chains(), after=step.cleaned_data["after"])
    if question is None:
        return render(request, "curation/review_empty.html", {"query": form.query()})
    return redirect(_item_url(question.pk, form.query()))


@require_GET
@curator_required
def item(request: HttpRequest, pk: int) -> HttpResponse:
    question = _get_question_for_user(request, pk)
    form = ReviewFilterForm(request.GET)
    if not form.is_valid():
        return _bad_filter(form)
    # Opening a free question (or a free overlap slot of it) takes it; a held one is read-only.
    claimed = review.claim(request.user, question.pk, question.dataset.review_overlap)
    if claimed is not None and claimed[1]:  # newly taken (not a renewal): hand back the one held before
        review.release_others(request.user, keep_question_id=question.pk)
    return _render_item(request, question, form.query(), lease=claimed[0] if claimed else None)


@require_GET
@curator_required
def previous(request: HttpRequest, pk: int) -> HttpResponse:
    """`k`: the question this curator reviewed last before this one, looked up when asked for (not on every page)."""
    question = _get_question_for_user(request, pk)
    form = ReviewFilterForm(request.GET)
    if not form.is_valid():
        return _bad_filter(form)
    previous_id = review.previous_question_id(request.user, question)
    if previous_id is None:
        messages.info(request, "You have not reviewed another question before this one.")
    return redirect(_item_url(previous_id or question.pk, form.query()))


@require_GET
@curator_required
def spectrogram(request: HttpRequest, pk: int) -> HttpResponse:
    """The question's clip as spectrogram frames for wavesurfer's `frequenciesDataUrl` (no decoding in the browser)."""
    question = _get_question_for_user(request, pk)
    if not question.clip.audio_path:
        raise Http404("this clip has no extracted audio")
    try:
        path = storage.resolve(question.clip.audio_path)
        rows = review_spectrogram.spectrogram_rows(path)
    except (storage.UnsafePath, OSError, ValueError, EOFError, wave.Error) as exc:
        raise Http404(f"no spectrogram for this clip: {exc}") from None
    response = JsonResponse(rows, safe=False)
    response["Cache-Control"] = "private, max-age=3600"
    return response


# --- decisions ----------------------------------------------------------------------------------------------


def _after_write(request: HttpRequest, question: Question, query: str, message: str, done: bool) -> HttpResponse:
    """Auto-advance once no chain of the question is pending; otherwise show the question again."""
    target = _next_url(query, after=question.pk) if done else _item_url(question.pk, query)
    if not request.htmx:
        messages.success(request, message)
        return redirect(target)
    if done:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return _render_item(request, question, query, notice=message)


def _refused(request: HttpRequest, question: Question, query: str, exc: review.ReviewError,
             **extra: object) -> HttpResponse:
    return _render_item(request, question, query, status=exc.status, error=exc.message, **extra)


@require_POST
@curator_required
def decide(request: HttpRequest, pk: int) -> HttpResponse:
    chain = _get_chain_for_user(request, pk)
    form = DecisionForm(request.POST)
    query = request.POST.get("queue", "")
    if not form.is_valid():
        return _refused(request, chain.question, query, review.ReviewError(form.errors.as_text()),
                        edit_draft={chain.pk: request.POST.get("text", "")})
    data, overlap = form.cleaned_data, chain.question.dataset.review_overlap
    query = filter_form_from_query(data["queue"]).query()  # re-encoded from validated fields only
    try:
        written = review.decide(request.user, chain.pk, data["version"], data["action"], reason=data["reason"],
                                note=data["note"], edited_text=data["text"], question_id=chain.question_id,
                                overlap=overlap)
    except review.ReviewError as exc:
        return _refused(request, chain.question, query, exc, edit_draft={chain.pk: data["text"]})
    verb = written.get_action_display().lower()
    card, done = review.card_number_and_done(chain, request.user, overlap)
    return _after_write(request, chain.question, query, f"Chain #{card}: {verb} → {written.to_decision}.", done)


@require_POST
@curator_required
def undo(request: HttpRequest, pk: int) -> HttpResponse:
    chain = _get_chain_for_user(request, pk)
    form = UndoForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(f"Invalid undo: {form.errors.as_text()}")
    query = filter_form_from_query(form.cleaned_data["queue"]).query()
    try:
        written = review.undo(request.user, chain.pk, form.cleaned_data["version"], question_id=chain.question_id,
                              overlap=chain.question.dataset.review_overlap)
    except review.ReviewError as exc:
        return _refused(request, chain.question, query, exc)
    message = f"Undone: chain #{review.card_number(chain)} is {written.to_decision} again."
    if not request.htmx:
        messages.success(request, message)
        return redirect(_item_url(chain.question_id, query))
    response = _render_item(request, chain.question, query, notice=message)
    if reverse("review:item", args=[chain.question_id]) not in request.headers.get("HX-Current-URL", ""):
        response = HttpResponse(status=204)  # undoing the item just left: go back to it
        response["HX-Redirect"] = _item_url(chain.question_id, query)
    return response


# --- bulk ---------------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@curator_required
def bulk(request: HttpRequest) -> HttpResponse:
    form = BulkForm(request.POST or request.GET)
    if not form.is_valid():
        return HttpResponseBadRequest(f"Invalid bulk action: {form.errors.as_text()}")
    filters = filter_form_from_query(form.cleaned_data["queue"])
    if not filters.is_valid():
        return _bad_filter(filters)
    data, chains = form.cleaned_data, filters.chains()
    count = chains.count()
    if request.method == "GET" or data["confirm"] != count:  # show the count first; a changed count asks again
        changed = request.method == "POST" and data["confirm"] is not None
        return render(request, "curation/review_bulk_confirm.html",
                      {"form": form, "count": count, "query": filters.query(), "changed": changed,
                       "data": data}, status=409 if changed else 200)
    with transaction.atomic():
        run = BulkAction.objects.create(action=data["action"], reason=data["reason"], note=data["note"],
                                        filters=filters.stored(), expected_count=count, created_by=request.user)
        if count > BULK_INLINE_MAX:
            run.rq_job_id = f"bulk-{run.pk}"
            run.save(update_fields=["rq_job_id"])
            queue = django_rq.get_queue("default")
            transaction.on_commit(lambda: queue.enqueue(bulk_job, run.pk, job_id=run.rq_job_id, job_timeout=3600))
    if count <= BULK_INLINE_MAX:
        bulk_job(run.pk)
    return redirect("review:bulk_detail", pk=run.pk)


@require_GET
@curator_required
def bulk_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(BulkAction, pk=pk)
    template = "curation/review_bulk.html#bulk-status" if request.htmx else "curation/review_bulk.html"
    return render(request, template, {"run": run, "filters_json": json.dumps(run.filters)})
