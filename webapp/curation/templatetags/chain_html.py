"""`{% review_card card selected blind read_only lease reason_choices %}` and its pieces, `{% chain_text segments %}`,
`{% verdict_chips verdicts chain edited %}`, `{% flag_chips chain.flags %}`, `{% card_header card blind %}`,
`{% card_actions card reason_choices %}`; `{% history_rows history %}`: a chain card and the item page's history
rows, built in Python (webapp/curation/fragments.py); `{% review_panel %}`, the item page's whole review panel
(webapp/curation/panel_html.py)."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from webapp.curation import fragments, panel_html

register = template.Library()
register.simple_tag(fragments.chain_text, name="chain_text")
register.simple_tag(fragments.verdict_chips, name="verdict_chips")
register.simple_tag(fragments.flag_chips, name="flag_chips")
register.simple_tag(fragments.history_rows, name="history_rows")
register.simple_tag(fragments.card_header, name="card_header")
register.simple_tag(fragments.card_actions, name="card_actions")
register.simple_tag(fragments.review_card, name="review_card")


@register.simple_tag(takes_context=True)
def review_panel(context: template.Context) -> SafeString:
    return panel_html.review_panel(context)
