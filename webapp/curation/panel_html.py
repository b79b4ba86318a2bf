"""The item page's review panel (banners, undo, the chain cards, the history) built in Python from panel_context.

The panel is what a decision swaps in and half of the item page; as a template its frame (a dozen conditions and
lookups around the cards, which fragments.py already builds) cost about as much CPU as the cards themselves
(bench/review_cpu.py). `{% review_panel %}` in `curation/review_item.html` writes the same markup; every value goes
through format_html, so it is escaped exactly as `{{ }}` escaped it.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from webapp.core.fast_html import format_html
from webapp.core.fixed_urls import id_url
from webapp.curation.fragments import history_rows, hour_minute, review_card

_NO_CHAINS = mark_safe('\n      <p class="muted">This question has no chains to review.</p>\n    ')
_HISTORY_HEAD = ('\n    <section id="review-history" class="history card">\n      <h2>History <small class="muted">'
                 '(newest first)</small></h2>\n      ')
_HISTORY_TABLE = ('<table class="table small">\n        <thead><tr><th>When</th><th>Who</th><th>Chain</th>'
                  '<th>Action</th><th>From → to</th><th>Reason / note</th><th>Version</th></tr></thead>\n'
                  '        <tbody>{}</tbody>\n      </table>')


@cache
def _legend() -> str:
    """curation/_claim_legend.html (what the claim colours mean), the same on every page: rendered once."""
    return render_to_string("curation/_claim_legend.html").strip() + "\n"


def _banners(c: Mapping[str, Any]) -> list[str]:
    question, lease, parts = c["question"], c.get("lease"), []
    if c.get("error") and not c.get("error_on_card"):
        parts.append(format_html('<p class="messages error" role="alert" id="review-error">{}</p>', c["error"]))
    if c.get("notice"):
        parts.append(format_html('<p class="messages success" role="status" id="review-notice">{}</p>', c["notice"]))
    if lease and not c["mine"]:
        parts.append(format_html('<p class="tag warn" id="lease-banner">{} is reviewing this question until {}; you '
                                 "can look, not decide.</p>", lease.curator.get_username(),
                                 hour_minute(lease.expires_at)))
    elif c["mine"]:
        parts.append(format_html('<p class="muted small" id="lease-banner">Yours until {}.</p>',
                                 hour_minute(lease.expires_at)))
    if c.get("served_because"):
        parts.append(format_html('<p class="small" id="served-because"><span class="tag warn">Served first because: '
                                 "{}</span></p>", c["served_because"]))
    overlap = question.dataset.review_overlap
    if overlap > 1:
        how = ("; you see only your own decisions until all of them have decided" if c.get("blind") else
               "; every curator has decided, so all decisions are shown and each chain carries the majority (a tie "
               "is flagged)")
        parts.append(format_html('<p class="muted small" id="overlap-banner">Agreement study: {} curators review '
                                 "each question{}.</p>", overlap, how))
    undo = c.get("undo_chain")
    if undo and (not c.get("read_only") or undo.question_id != question.pk):
        url = id_url("review:undo", undo.pk)
        parts.append(format_html(
            '<form id="undo-form" method="post" action="{0}" hx-post="{0}" hx-target="#review-panel" '
            'hx-swap="outerHTML" class="inline">{1}\n      <input type="hidden" name="version" value="{2}">'
            '<input type="hidden" name="queue" value="{3}">\n      <button type="submit">Undo (u) my last decision'
            "{4}</button>\n    </form>", url, c["csrf_input"], c["undo_version"], c["queue"],
            " on the previous question" if undo.question_id != question.pk else ""))
    return parts


def review_panel(c: Mapping[str, Any]) -> SafeString:
    """`#review-panel` from panel_context's values (`c`, the template context)."""
    chains = c["chains"]
    selected = c.get("selected")
    blind, read_only, lease, reasons = c.get("blind"), c.get("read_only"), c.get("lease"), c["reason_choices"]
    cards = "".join(f"\n      {review_card(ic, selected, blind, read_only, lease, reasons)}\n    "
                    for ic in chains) or _NO_CHAINS
    history = c.get("history")
    table = format_html(_HISTORY_TABLE, history_rows(history)) if history else \
        mark_safe('<p class="muted">No decisions yet.</p>')
    head = format_html('<section id="review-panel" class="review-panel" data-lease-mine="{}" data-selected="{}">\n    ',
                       "1" if c["mine"] else "0", "" if selected is None else selected)
    body = "".join(f"{part}\n    " for part in _banners(c))
    return mark_safe(  # noqa: S308 - every part is format_html's or a constant
        f"{head}{body}{_legend() if chains else ''}    <div class=\"chain-grid\">{cards}</div>{_HISTORY_HEAD}"
        f"{table}\n    </section>\n  </section>")
