"""What a review item page shows: the chain cards as this curator sees them (blind under review overlap), the history,
what `u` would take back, and the links that carry the queue's filter from page to page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.sessions.backends.base import SessionBase
from django.db.models import QuerySet
from django.http import HttpRequest
from django.middleware.csrf import get_token

from webapp.catalog.models import Question
from webapp.core.fast_html import format_html, format_html_join
from webapp.core.fixed_urls import fixed_url, id_url
from webapp.core.prepared import Prepared
from webapp.curation.models import Chain, Lease, Review, Verdict
from webapp.curation.presenters import Segment, answer_letter, highlight, ordered_verdicts, shown_claims
from webapp.curation.review.decisions import REJECT_REASONS, undoable
from webapp.curation.review.history import ChainState, effective_stack, own_stack, stream_version
from webapp.curation.review.leases import lease_holder

# The reject reasons as numbered radio buttons (a digit picks one while the reject form is open; none is preselected,
# so a reason is always a choice), escaped once here instead of once per chain card on every item page.
REASON_CHOICES = format_html_join(
    "",
    '<label><input type="radio" name="reason" value="{}" required> <kbd>{}</kbd> {}</label>',
    ((value, number, label) for number, (value, label) in enumerate(REJECT_REASONS, start=1)),
)

def item_url(question_id: int, query: str) -> str:
    url = id_url("review:item", question_id)
    return f"{url}?{query}" if query else url


def next_url(query: str, after: int | None = None) -> str:
    params = query + (("&" if query else "") + urlencode({"after": after}) if after else "")
    return fixed_url("review:next") + (f"?{params}" if params else "")


TRAIL_KEY = "review_trail"  # session key: the questions this session opened, in the order first opened
TRAIL_MAX = 500


def remember_visit(session: SessionBase, question_id: int) -> None:
    """Record a question in this session's order for `k`. Only first visits count: going back with `k` and forward
    again must not reorder the trail (k, k from the third question walks to the second, then the first)."""
    trail = session.get(TRAIL_KEY, [])
    if question_id not in trail:
        session[TRAIL_KEY] = [*trail, question_id][-TRAIL_MAX:]


def previous_in_session(session: SessionBase, question_id: int) -> int | None:
    """`k`: the question opened before this one in this session, whether or not anything was decided on it (`j`
    skips without deciding); None when this was the session's first."""
    trail = session.get(TRAIL_KEY, [])
    if question_id not in trail:
        return trail[-1] if trail else None
    at = trail.index(question_id)
    return trail[at - 1] if at > 0 else None


@dataclass(frozen=True)
class Refused:
    """A write the server refused, shown on its chain's card with the form it came from open again (an edit's text,
    a reject's reason and note); an accept, flag or undo reopens no form."""

    chain_id: int
    message: str
    action: str = ""
    text: str = ""
    reason: str = ""
    note: str = ""

    def reasons(self) -> list[tuple[int, str, str, bool]]:
        """The numbered reject reasons with the one that was picked checked again."""
        return [(n, value, label, value == self.reason) for n, (value, label) in enumerate(REJECT_REASONS, start=1)]


@dataclass
class ItemChain:
    """A chain card as this curator sees it: with review overlap, `decision` and `version` are the curator's own
    stream's (and while the study is blind, so are `state` and the text); otherwise the chain's."""

    index: int
    chain: Chain
    state: ChainState
    verdicts: list[Verdict]
    segments: list[Segment] = field(default_factory=list)
    draft: str | None = None  # a refused edit, shown again in its open editor
    refused: Refused | None = None  # a refused write on this chain: its message, the form it came from
    decision: str = Chain.Decision.PENDING
    version: int = 0
    form_attrs: str = ""  # what the card's four decision forms share (set_card_forms)
    hidden_inputs: str = ""

    @property
    def decision_display(self) -> str:
        return Chain.Decision(self.decision).label

    @property
    def answer_index(self) -> int | None:
        revision = self.state.revision
        return revision.parsed_answer if revision is not None else self.chain.parsed_answer

    @property
    def answer_letter(self) -> str:
        return answer_letter(self.answer_index)

    @property
    def is_correct(self) -> bool | None:
        revision = self.state.revision
        return revision.is_correct if revision is not None else self.chain.is_correct


def _verdicts_by_chain(question_id: int, chains: list[Chain]) -> dict[int, list[Verdict]]:
    """The kept chains' verdicts (their raw output left in the database), in one query: read and grouped here, as
    prefetch_related("verdicts") would, without its machinery, which cost as much CPU as the query itself. Read
    by question, not by a list of chain ids, so that the statement is prepared once (presenters sort them)."""
    by_chain: dict[int, list[Verdict]] = {c.pk: [] for c in chains}
    if by_chain:
        for verdict in _KEPT_VERDICTS.all(question_id):
            by_chain[verdict.chain_id].append(verdict)
    return by_chain


def _history(question_id: int) -> QuerySet[Review]:
    return Review.objects.filter(chain__question_id=question_id).select_related("revision", "curator").order_by(
        "created_at", "id")


# The item page's reads, prepared once (webapp/core/prepared.py): building their SQL cost more than running it.
_KEPT_CHAINS = Prepared[Chain](lambda question_id: Chain.objects.filter(question_id=question_id, kept=True)
                               .order_by("run_id", "sample_index"), "int")
_KEPT_VERDICTS = Prepared[Verdict](lambda question_id: Verdict.objects.filter(
    chain__question_id=question_id, chain__kept=True).defer("raw_output"), "int")
_HISTORY = Prepared[Review](_history, "int")
_MY_HISTORY = Prepared[Review](lambda question_id, user_id: _history(question_id).filter(curator_id=user_id),
                               "int", "int")
_LATEST_UNDOABLE = Prepared[Review](lambda user_id: Review.objects.filter(curator_id=user_id)
                                    .exclude(action=Review.Action.UNDO).select_related("chain__question__dataset")
                                    .order_by("-created_at", "-id")[:1], "int")


def _item_chains(question: Question, user: AbstractBaseUser) -> tuple[list[ItemChain], list[Review], bool]:
    """The question's kept chains with their state, its history (oldest first), and whether the page is blind:
    three queries.

    One history query serves both the per-chain state (replayed in version order) and the history table. Under
    review overlap, while any chain still waits for its curators, the page is blind: each curator sees only
    their own decisions, edits and history, so no one is swayed by another's call.
    """
    chains = _KEPT_CHAINS.all(question.pk)
    for chain in chains:
        chain.question = question  # as question.chains would: the presenters read it
    verdicts = _verdicts_by_chain(question.pk, chains)
    overlap = question.dataset.review_overlap
    blind = overlap > 1 and any(c.decision == Chain.Decision.PENDING for c in chains)
    by_id = {c.pk: c for c in chains}
    history = _MY_HISTORY.all(question.pk, user.pk) if blind else _HISTORY.all(question.pk)
    reviews: dict[int, list[Review]] = {c.pk: [] for c in chains}
    cards = {c.pk: i for i, c in enumerate(chains, start=1)}
    for r in history:
        r.card = cards.get(r.chain_id)  # the chain's card number, as the notices say it
        if r.chain_id in by_id:
            r.chain = by_id[r.chain_id]
            reviews[r.chain_id].append(r)
    items = []
    for i, chain in enumerate(chains, start=1):
        verdicts_ = ordered_verdicts(chain, verdicts[chain.pk])
        ordered = sorted(reviews[chain.pk], key=lambda r: r.chain_version)
        state = ChainState(chain=chain, stack=effective_stack(ordered))
        decision, version = chain.decision, chain.version
        if overlap > 1:
            mine = own_stack(user.pk, state.stack)
            version = stream_version(user.pk, ordered)
            if blind:
                state = ChainState(chain=chain, stack=mine)
                decision = mine[-1].to_decision if mine else Chain.Decision.PENDING
        claims = shown_claims(chain, verdicts_) if state.revision is None else []
        items.append(ItemChain(i, chain, state, verdicts_, highlight(state.text, claims), decision=decision,
                               version=version))
    return items, history, blind


def _undo_target(request: HttpRequest, question: Question, chains: list[ItemChain],
                 history: list[Review]) -> tuple[Chain | None, int]:
    """What `u` takes back, as decisions.last_undoable says, and the version to send with it; answered from the
    history already loaded when it can: my newest decision on this question if still in force, else my newest
    one anywhere (the item just left)."""
    mine = [r for r in history if r.curator_id == request.user.pk and r.action != Review.Action.UNDO]
    cards = {ic.chain.pk: ic for ic in chains}
    overlap = question.dataset.review_overlap
    if mine and mine[-1].chain_id in cards:
        card = cards[mine[-1].chain_id]
        if own_stack(request.user.pk, card.state.stack) if overlap > 1 else card.state.stack:
            return mine[-1].chain, card.version
    latest = _LATEST_UNDOABLE.first(request.user.pk)
    if latest is None or (mine and latest.pk == mine[-1].pk):
        return None, 0
    chain, overlap = latest.chain, latest.chain.question.dataset.review_overlap
    reviews = list(chain.reviews.select_related("revision", "curator").order_by("chain_version"))
    if not undoable(request.user, chain, overlap, reviews):
        return None, 0
    return chain, stream_version(request.user.pk, reviews) if overlap > 1 else chain.version


def _csrf_input(token: str) -> str:
    """The CSRF hidden input, masked once: {% csrf_token %} masks the token afresh at each of the 33 forms on an
    item page (the csrf context processor is lazy, not cached), a third of the panel's render time."""
    return format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)


def set_card_forms(chains: list[ItemChain], csrf_input: str, query: str) -> None:
    """A card's four decision forms share their target and hidden inputs: each built once per card here rather than
    from twenty template variables per card, the largest part of the item page's render."""
    for ic in chains:
        url = id_url("review:decide", ic.chain.pk)
        ic.form_attrs = format_html('action="{0}" hx-post="{0}" hx-target="#review-panel" hx-swap="outerHTML"', url)
        ic.hidden_inputs = format_html('{}<input type="hidden" name="version" value="{}"><input type="hidden" '
                                       'name="queue" value="{}">', csrf_input, ic.version, query)


def selected_card(chains: list[ItemChain], focus: int | None = None, advance: bool = False) -> ItemChain | None:
    """The card the keys act on, chosen by the server so that it survives htmx's swap (a class added by script
    after a swap was wiped when htmx settled the new panel's attributes: the outline vanished while the keys still
    acted on the chain remembered by the script).

    `focus` is the chain a decision, undo or refusal was about: after a decision (`advance`) the next pending card
    after it, wrapping round, else that chain itself; with no focus, the first pending card.
    """
    cards = [ic for ic in chains if ic.chain.pk == focus]
    if not advance and cards:
        return cards[0]
    start = chains.index(cards[0]) + 1 if cards else 0
    rotated = chains[start:] + chains[:start]
    pending = [ic for ic in rotated if ic.decision == Chain.Decision.PENDING]
    return (pending or cards or chains or [None])[0]


def panel_context(request: HttpRequest, question: Question, query: str, refused: Refused | None = None,
                   lease: Lease | None = None, focus: int | None = None, advance: bool = False,
                   **extra: object) -> dict[str, object]:
    lease = lease or lease_holder(question.pk, request.user)
    chains, history, blind = _item_chains(question, request.user)
    for ic in chains:
        if refused is not None and refused.chain_id == ic.chain.pk:
            ic.refused = refused
            ic.draft = refused.text if refused.action == "edit" else None
    undo_chain, undo_version = _undo_target(request, question, chains, history)
    # One masking per page: the base template's htmx header takes this token too, rather than the context
    # processor masking the secret again (32 random choices, 1.5 % of the page's CPU).
    csrf_token = get_token(request)
    csrf_input = _csrf_input(csrf_token)
    set_card_forms(chains, csrf_input, query)
    selected = selected_card(chains, focus, advance)
    mine = lease is not None and lease.curator_id == request.user.pk
    return {
        "selected": selected.chain.pk if selected else None,
        "error_on_card": refused is not None and any(ic.refused for ic in chains),
        "question": question, "clip": question.clip, "chains": chains, "queue": query, "blind": blind,
        "lease": lease, "mine": mine,
        # Another curator holds the question: the cards carry no decision forms (they could only be refused).
        "read_only": lease is not None and not mine,
        "history": history[::-1][:50], "undo_chain": undo_chain, "undo_version": undo_version,
        "reason_choices": REASON_CHOICES, "csrf_input": csrf_input, "csrf_token": csrf_token,
        "next_url": next_url(query, after=question.pk), "served_because": served_because(question, chains),
        **extra,
    }


def served_because(question: Question, chains: list[ItemChain]) -> str:
    """Why the active queue served this question early (review/priority.py); "" in a FIFO dataset or when nothing
    stood out. Read from the chains already loaded: no query."""
    if question.dataset.review_order != question.dataset.ReviewOrder.ACTIVE:
        return ""
    return next((ic.chain.queue_reason for ic in chains
                 if ic.chain.decision == Chain.Decision.PENDING and ic.chain.queue_reason), "")


