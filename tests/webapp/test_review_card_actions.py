"""A chain card and its decision forms built in Python (fragments.review_card, card_actions) are byte-identical to
the template they replace, refused forms, read-only cards and escaping included."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.test import Client

from tests.webapp.review_factories import make_dataset, make_question
from webapp.curation.fragments import card_actions, review_card
from webapp.curation.review.panel import Refused

pytestmark = pytest.mark.django_db

# templates/curation/review_item.html's card forms before fragments.card_actions took them over.
OLD_TEMPLATE = (
    '<div class="actions">\n'
    '          <form method="post" {{ ic.form_attrs }} class="inline act-accept">{{ ic.hidden_inputs }}\n'
    '            <input type="hidden" name="action" value="accept"><button type="submit">Accept (a)</butt'
    'on>\n'
    '          </form>\n'
    '          <form method="post" {{ ic.form_attrs }} class="inline act-flag">{{ ic.hidden_inputs }}\n'
    '            <input type="hidden" name="action" value="flag"><button type="submit">Flag (f)</button>\n'
    '          </form>\n'
    '          <details class="act-reject"{% if ic.refused.action == "reject" %} open{% endif %}><summary'
    '>Reject (x)</summary>\n'
    '            <form method="post" {{ ic.form_attrs }}>{{ ic.hidden_inputs }}<input type="hidden" name='
    '"action" value="reject">\n'
    '              <fieldset class="reasons"><legend>Reason: press its number, then Enter</legend>{% if i'
    'c.refused.action == "reject" %}{% for n, value, label, checked in ic.refused.reasons %}<label><input'
    ' type="radio" name="reason" value="{{ value }}" required{% if checked %} checked{% endif %}> <kbd>{{'
    ' n }}</kbd> {{ label }}</label>{% endfor %}{% else %}{{ reason_choices }}{% endif %}</fieldset>\n'
    '              <label>Note <input type="text" name="note" maxlength="2000" value="{{ ic.refused.note|'
    'default:\'\' }}"></label>\n'
    '              <button type="submit">Reject</button>\n'
    '            </form>\n'
    '          </details>\n'
    '          <details class="act-edit"{% if ic.draft is not None %} open{% endif %}><summary>Edit (e)</'
    'summary>\n'
    '            <form method="post" {{ ic.form_attrs }}>{{ ic.hidden_inputs }}<input type="hidden" name='
    '"action" value="edit">\n'
    '              <textarea name="text" rows="8" aria-label="Edited chain (must end in &lt;answer&gt;…&l'
    't;/answer&gt;)">{% if ic.draft is not None %}{{ ic.draft }}{% else %}{{ ic.state.text }}{% endif %}<'
    '/textarea>\n'
    '              <button type="submit">Save edit and accept (Ctrl+Enter)</button>\n'
    '            </form>\n'
    '          </details>\n'
    '        </div>'
)

# templates/curation/review_item.html's card before fragments.review_card took it over.
OLD_CARD = (
    '{% load chain_html %}'
    '<article class="chain review-chain decision-{{ ic.decision }}{% if ic.chain.pk == selected %} select'
    'ed{% endif %}" id="chain-{{ ic.chain.pk }}" data-index="{{ ic.index }}" data-decision="{{ ic.decisio'
    'n }}" tabindex="-1">\n'
    '        {% card_header ic blind %}\n'
    '        {% if ic.refused %}<p class="messages error chain-error" role="alert">{{ ic.refused.message '
    '}}</p>{% endif %}\n'
    '        {% chain_text ic.segments %}\n'
    '        {% if ic.verdicts.0.rationale %}<p class="muted small">{{ ic.verdicts.0.rationale }}</p>{% e'
    'ndif %}\n'
    '        {% if read_only %}<p class="muted small read-only">Read-only while {{ lease.curator.get_user'
    'name }} reviews it.</p>{% else %}\n'
    '        {% card_actions ic reason_choices %}{% endif %}\n'
    '      </article>'
)

NASTY = 'a <b>"quoted" & \'single\'</b> {} %s'


def test_the_card_forms_are_byte_identical_to_the_template_they_replace(curator_client: Client) -> None:
    question = make_question(make_dataset(), 1, chains=2)
    response = curator_client.get(f"/review/q/{question.pk}/")
    context = response.context
    old = Template(OLD_TEMPLATE)
    cases = [(None, None), (Refused(1, "m", "reject", "", "missed-sound", NASTY), None),
             (Refused(1, "m", "reject", "", "", ""), None), (Refused(1, "m", "edit", NASTY, "", "n"), NASTY),
             (Refused(1, "m", "accept"), None), (None, "")]
    for card in context["chains"]:
        for refused, draft in cases:
            card.refused, card.draft = refused, draft
            expected = old.render(Context({"ic": card, "reason_choices": context["reason_choices"]}))
            assert card_actions(card, context["reason_choices"]) == expected


def test_a_whole_card_is_byte_identical_to_the_template_it_replaces(curator_client: Client, users) -> None:  # type: ignore[no-untyped-def]
    question = make_question(make_dataset(), 1, chains=3)
    response = curator_client.get(f"/review/q/{question.pk}/")
    context = response.context
    lease = context["lease"]
    lease.curator.username = NASTY  # shown on a read-only card, escaped
    old = Template(OLD_CARD)
    first = context["chains"][0]
    first.verdicts[0].rationale = NASTY
    first.refused = Refused(first.chain.pk, NASTY, "reject", "", "other", "")
    for card in context["chains"]:
        for selected in (card.chain.pk, None):
            for blind in (True, False):
                for read_only in (True, False):
                    values = {"ic": card, "selected": selected, "blind": blind, "read_only": read_only,
                              "lease": lease, "reason_choices": context["reason_choices"]}
                    expected = old.render(Context(values))
                    assert review_card(card, selected, blind, read_only, lease, context["reason_choices"]) == expected
