"""A chain card's repeated pieces as HTML built in Python: the text with its claim highlights, the verdict chips and
the flag chips, a card's header; and the item page's history rows.

An item page shows eight cards, and rendering these three as included templates (a context pushed per include, a
template lookup per variable) was about a fifth of the item page's CPU (bench/review_cpu.py). Every value goes
through format_html, so it is escaped exactly as the templates' `{{ }}` escaped it; the templates
`curation/_chain_text.html`, `_verdict_chips.html` and `_flag_chips.html` call these, so each piece of markup lives
once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

from django.template.defaultfilters import floatformat
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime

from webapp.core.fast_html import format_html, format_html_join
from webapp.curation.flags import flag_labels
from webapp.curation.models import Chain, Lease, Review, Verdict
from webapp.curation.presenters import Segment

if TYPE_CHECKING:
    from webapp.curation.review.panel import ItemChain


def chain_text(segments: Iterable[Segment]) -> SafeString:
    """The chain text cut into segments (presenters.highlight): claims are <mark>s that play their evidence span."""
    parts = []
    for seg in segments:
        claim = seg.claim
        if not claim:
            parts.append(format_html("{}", seg.text))
            continue
        verdict = claim.get("verdict", "")
        parts.append(format_html('<mark class="claim {}" tabindex="0" data-spans="{}" title="{}{}">{}</mark>',
                                 verdict, seg.spans_json, verdict,
                                 " — click to hear it" if claim.get("spans") else "", seg.text))
        judge = claim.get("judge")
        if judge:
            parts.append(format_html('<span class="judge-opinion {0}" title="the LALM judge on this claim">'
                                     "judge: {0}</span>", judge))
    return mark_safe('<div class="text">' + "".join(parts) + "</div>")  # noqa: S308 - every part is format_html's


_CENT = Decimal("0.01")


def two_places(score: float) -> str:
    """`floatformat(score, 2)`, to the character (half up, no "-0.00"), at a tenth of its cost: it localizes and
    parses its argument generically, 15 µs a chip and eight chips a card (tests/webapp/test_review_item_markup.py
    compares them)."""
    if not math.isfinite(score):
        return floatformat(score, 2)
    rounded = Decimal(repr(score)).quantize(_CENT, ROUND_HALF_UP)
    return str(rounded if rounded else abs(rounded))


def verdict_chips(verdicts: Iterable[Verdict], chain: Chain, edited: object = None) -> SafeString:
    """A chain's verdict chips, the verdict of record first (presenters.ordered_verdicts). `edited`: an edit is in
    force, so every verdict judged the text before it (validation reads the teacher's text): each chip says so,
    rather than vouching for the edited text shown beside it."""
    record = chain.verdict_id
    parts = []
    for v in verdicts:
        history = bool(record) and v.pk != record
        lead = ("judged the text before the edit · " if edited else "") + (
            "verdict of record · " if v.pk == record else "history · " if record else "")
        score = format_html(" · score {}", two_places(v.score)) if v.score is not None else ""
        parts.append(format_html('<span class="verdict {}{}{}" title="{}{} {}{}">{}: {}{}{}</span>',
                                 v.label, " history" if history else "", " stale" if edited else "",
                                 lead, v.validator, v.validator_version, score,
                                 v.validator, v.label, " (history)" if history else "",
                                 " · not validated since edit" if edited else ""))
    return mark_safe("".join(parts))  # noqa: S308 - every part is format_html's


def flag_chips(bits: int | None) -> SafeString:
    """A chip per flag a chain carries (flags.FLAGS)."""
    return mark_safe("".join(  # noqa: S308 - every part is format_html's
        format_html('<span class="tag warn chain-flag flag-{}" title="Flagged: {} (left out of snapshots unless '
                    'chosen; docs/curation.md)">⚑ {}</span>', name, label, label)
        for name, label in flag_labels(bits or 0)))


def _when(moment: datetime) -> str:
    """`{{ moment|date:"Y-m-d H:i:s" }}` in the current time zone, without the date filter's generic formatter (a
    tenth of the history table's CPU; tests/webapp/test_review_item_markup.py compares them)."""
    t = template_localtime(moment)
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}:{t.second:02d}"


def hour_minute(moment: datetime) -> str:
    """`{{ moment|time:"H:i" }}`: the hour and minute in the current time zone."""
    local = template_localtime(moment)
    return f"{local.hour:02d}:{local.minute:02d}"


def history_rows(history: Iterable[Review]) -> SafeString:
    """The item page's history table rows, newest first as given: up to fifty rows of seven cells each, the largest
    loop of the page after the cards."""
    rows = []
    for r in history:
        when = _when(r.created_at)
        card = format_html("#{}", r.card) if getattr(r, "card", None) else "—"
        note = format_html(" {}", r.note) if r.note else ""
        edited = format_html('<details><summary>edited text</summary><pre class="edited">{}</pre></details>',
                             r.edited_text) if r.edited_text else ""
        version = r.curator_version if r.curator_version is not None else r.chain_version
        rows.append(format_html("<tr>\n          <td>{}</td><td>{}</td><td>{}</td>"
                                "\n          <td>{}</td><td>{} → {}</td>"
                                "\n          <td>{}{}{}</td>\n          <td>v{}</td></tr>",
                                when, r.curator.get_username(), card, r.get_action_display(), r.from_decision,
                                r.to_decision, r.reason, note, edited, version))
    return mark_safe("".join(rows))  # noqa: S308 - every part is format_html's


_CORRECT = {True: mark_safe('<span class="tag ok">correct</span>'),
            False: mark_safe('<span class="tag bad">wrong</span>'),
            None: mark_safe('<span class="tag">no answer</span>')}
_CHECKED = mark_safe(" checked")
_YOURS = mark_safe(' <small class="muted">(yours)</small>')
_HEADER = ("<header>\n          <b>{}</b>\n          <span class=\"decision {}\">{}{}</span>"
           + "\n          {}" * 5 + "\n          <span class=\"muted small\">v{}</span>\n        </header>")


def card_header(card: ItemChain, blind: bool) -> SafeString:
    """A chain card's header: its number, the decision (the curator's own in a blind study), the answer and whether
    it is right, an edit in force, the chips, the version the decision forms send."""
    revision = card.state.revision
    if card.answer_letter:
        answer = format_html("<span>answer <b>{}</b></span>", card.answer_letter)
    elif revision is not None and revision.open_answer:
        answer = format_html("<span>answer <b>{}</b></span>", revision.open_answer)
    else:
        answer = ""
    edited = ""
    if revision:
        edited = format_html('<span class="tag warn">edited{}</span>', "" if revision.format_ok else " · format off")
    return format_html(_HEADER, card.index, card.decision, card.decision_display, _YOURS if blind else "", answer,
                       _CORRECT.get(card.is_correct, _CORRECT[None]), edited,
                       verdict_chips(card.verdicts, card.chain, revision), flag_chips(card.chain.flags), card.version)


_ACTIONS = (
    '<div class="actions">\n          <form method="post" {attrs} class="inline act-accept">{hidden}\n'
    '            <input type="hidden" name="action" value="accept"><button type="submit">Accept (a)</button>\n'
    '          </form>\n          <form method="post" {attrs} class="inline act-flag">{hidden}\n'
    '            <input type="hidden" name="action" value="flag"><button type="submit">Flag (f)</button>\n'
    '          </form>\n          <details class="act-reject"{reject_open}><summary>Reject (x)</summary>\n'
    '            <form method="post" {attrs}>{hidden}<input type="hidden" name="action" value="reject">\n'
    '              <fieldset class="reasons"><legend>Reason: press its number, then Enter</legend>'
    '{reasons}</fieldset>\n'
    '              <label>Note <input type="text" name="note" maxlength="2000" value="{note}"></label>\n'
    '              <button type="submit">Reject</button>\n            </form>\n          </details>\n'
    '          <details class="act-edit"{edit_open}><summary>Edit (e)</summary>\n'
    '            <form method="post" {attrs}>{hidden}<input type="hidden" name="action" value="edit">\n'
    '              <textarea name="text" rows="8" '
    'aria-label="Edited chain (must end in &lt;answer&gt;…&lt;/answer&gt;)">'
    '{text}</textarea>\n              <button type="submit">Save edit and accept (Ctrl+Enter)</button>\n'
    '            </form>\n          </details>\n        </div>'
)
_OPEN = mark_safe(" open")


def card_actions(card: ItemChain, reason_choices: str) -> SafeString:
    """A chain card's four decision forms (accept, flag, reject, edit), a refused one reopened with what was typed
    in it: the largest part of the item page's render as a template, byte-identical to it."""
    refused = card.refused
    rejected = refused is not None and refused.action == "reject"
    reasons = reason_choices
    if rejected:
        reasons = format_html_join("", '<label><input type="radio" name="reason" value="{}" required{}> '
                                   "<kbd>{}</kbd> {}</label>",
                                   ((value, _CHECKED if checked else "", n, label)
                                    for n, value, label, checked in refused.reasons()))
    return format_html(_ACTIONS, attrs=card.form_attrs, hidden=card.hidden_inputs,
                       reject_open=_OPEN if rejected else "", reasons=reasons,
                       note=(refused.note if refused is not None else "") or "",
                       edit_open=_OPEN if card.draft is not None else "",
                       text=card.draft if card.draft is not None else card.state.text)


_CARD = ('<article class="chain review-chain decision-{}{}" id="chain-{}" data-index="{}" data-decision="{}" '
         'tabindex="-1">\n        {}\n        {}\n        {}\n        {}\n        {}\n      </article>')
_SELECTED = mark_safe(" selected")


def review_card(card: ItemChain, selected: int | None, blind: bool, read_only: bool, lease: Lease | None,
                reason_choices: str) -> SafeString:
    """A whole chain card of the item page (header, refusal, text, rationale, forms or the read-only note, `lease`
    being another curator's), byte-identical to the template it replaces."""
    chain = card.chain
    refused = format_html('<p class="messages error chain-error" role="alert">{}</p>', card.refused.message) \
        if card.refused else ""
    rationale = card.verdicts[0].rationale if card.verdicts else ""
    note = format_html('<p class="muted small">{}</p>', rationale) if rationale else ""
    if read_only:
        holder = lease.curator.get_username() if lease is not None else ""
        actions = format_html('<p class="muted small read-only">Read-only while {} reviews it.</p>', holder)
    else:
        actions = mark_safe("\n        " + card_actions(card, reason_choices))  # noqa: S308 - format_html's
    return format_html(_CARD, card.decision, _SELECTED if chain.pk == selected else "", chain.pk, card.index,
                       card.decision, card_header(card, blind), refused, chain_text(card.segments), note, actions)
