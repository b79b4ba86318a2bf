"""A chain card's decision forms built in Python (fragments.card_actions) are byte-identical to the template they
replace, refused forms and escaping included."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.test import Client

from tests.webapp.review_factories import make_dataset, make_question
from webapp.curation.fragments import card_actions
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
