"""The adjudication pages (admins only): the queue of flagged chains from agreement studies, and one chain with
every curator's decision, reason and edit side by side, the player and the claims, and the ruling form.

Plain forms that post and redirect (auto-advance to the next flagged chain); a refused ruling (stale: another admin
ruled first, or invalid) shows the page again with its message and what was typed.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_http_methods

from webapp.core.decorators import admin_required
from webapp.curation.models import Chain, Review, Verdict
from webapp.curation.presenters import highlight, ordered_verdicts, shown_claims
from webapp.curation.review.adjudication import Standing, adjudication_queue, rule, standings, with_card_numbers
from webapp.curation.review.decisions import REJECT_REASONS, card_number
from webapp.curation.review.diffs import word_diff
from webapp.curation.review.errors import ReviewError
from webapp.curation.review.forms import RulingForm

PAGE_SIZE = 50


@dataclass
class Side:
    """A curator's standing decision as a column of the page: their edit as a word diff against the teacher."""

    standing: Standing
    diff: SafeString | None


def _reviews() -> Prefetch:
    return Prefetch("reviews", Review.objects.select_related("curator", "revision").order_by("chain_version"))


def _sides(chain: Chain) -> list[Side]:
    return [Side(s, word_diff(chain.text, s.edited_text) if s.edited_text else None)
            for s in standings(list(chain.reviews.all()))]


def _get_chain_for_admin(pk: int) -> Chain:
    verdicts = Prefetch("verdicts", Verdict.objects.defer("raw_output"))
    chains = Chain.objects.select_related("question__dataset", "question__clip").prefetch_related(_reviews(), verdicts)
    return get_object_or_404(chains, pk=pk)


@require_GET
@admin_required
def queue(request: HttpRequest) -> HttpResponse:
    chains = with_card_numbers(adjudication_queue()).select_related("question__dataset").prefetch_related(_reviews())
    page = Paginator(chains, PAGE_SIZE).get_page(request.GET.get("page") or 1)
    rows = [(chain, chain.card, _sides(chain)) for chain in page]
    return render(request, "curation/adjudication_queue.html", {"page": page, "rows": rows})


def _next_after(chain: Chain) -> str:
    """The next flagged chain after this one (queue order, wrapping round), or the queue once none is left."""
    waiting = adjudication_queue().exclude(pk=chain.pk)
    q, run, index = chain.question_id, chain.run_id, chain.sample_index
    later = waiting.filter(Q(question_id__gt=q) | Q(question_id=q, run_id__gt=run)
                           | Q(question_id=q, run_id=run, sample_index__gt=index))
    found = later.first() or waiting.first()
    return reverse("review:adjudicate", args=[found.pk]) if found else reverse("review:adjudication")


@require_http_methods(["GET", "POST"])
@admin_required
def adjudicate(request: HttpRequest, pk: int) -> HttpResponse:
    chain = _get_chain_for_admin(pk)
    form, status, error = RulingForm(request.POST or None), 200, ""
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                ruling = rule(request.user, chain.pk, data["version"], data["action"], note=data["note"],
                              reason=data["reason"], edited_text=data["text"])
            except ReviewError as exc:
                status, error = exc.status, exc.message
            else:
                messages.success(request, f"Ruled chain #{card_number(chain)} of {chain.question.dataset.name} "
                                          f"#{chain.question.external_id}: {ruling.to_decision}.")
                return redirect(_next_after(chain))
        else:
            status, error = 400, form.errors.as_text()
        chain = _get_chain_for_admin(pk)  # as it is now (a stale ruling shows the winner's)
    verdicts = ordered_verdicts(chain, list(chain.verdicts.all()))
    history, sides = list(chain.reviews.all()), _sides(chain)
    edits = [side.standing.edited_text for side in sides if side.standing.edited_text]
    context = {
        "chain": chain, "question": chain.question, "clip": chain.question.clip, "card": card_number(chain),
        "verdicts": verdicts, "segments": highlight(chain.text, shown_claims(chain, verdicts)),
        "sides": sides, "history": history[::-1],
        "edit_default": edits[0] if edits else chain.text, "form": form, "error": error,
        "reasons": REJECT_REASONS, "open": adjudication_queue().filter(pk=chain.pk).exists(),
        "waiting": adjudication_queue().count(), "next_url": _next_after(chain),
    }
    return render(request, "curation/adjudicate.html", context, status=status)
