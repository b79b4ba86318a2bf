"""What an item page's chain card shows, to the byte: the claim highlights, the verdict chips and the flag chips are
built in Python (webapp/curation/fragments.py) where included templates drew them, and must read as before; so
must the panel around them (webapp/curation/panel_html.py) and its times."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.template.defaultfilters import date, floatformat, time
from django.test import Client
from django.utils import timezone
from django.utils.timezone import template_localtime

from pipeline.flags import FLAGS
from tests.webapp.review_factories import make_dataset, make_question
from webapp.curation.fragments import _when, two_places
from webapp.curation.models import Chain, Verdict
from webapp.curation.panel_html import hour_minute

pytestmark = pytest.mark.django_db

TEXT = "<think>I hear a <b>bell</b> & rain.</think><answer>B</answer>"


def test_it_draws_a_claim_its_judge_and_the_chips_escaped(curator_client: Client) -> None:
    question = make_question(make_dataset(), 1, chains=1)
    chain = question.chains.get()
    start = TEXT.index("<b>")
    claim = {"char_start": start, "char_end": start + len("<b>bell</b>")}
    policy = Verdict.objects.create(chain=chain, run=chain.run, validator="policy", validator_version="p<1>",
                                    label="pass", score=0.875,
                                    claims=[{**claim, "verdict": "supported", "spans": [[1.0, 2.0]]}])
    Verdict.objects.create(chain=chain, run=chain.run, validator="lalm", validator_version="v2", label="fail",
                           claims=[{**claim, "verdict": "contradicted"}])
    bits = FLAGS["visual_only"][0] | FLAGS["lucky_guess"][0]
    Chain.objects.filter(pk=chain.pk).update(text=TEXT, verdict=policy, flags=bits)
    page = curator_client.get(f"/review/q/{question.pk}/").content.decode()
    assert ('<div class="text">&lt;think&gt;I hear a <mark class="claim supported" tabindex="0" '
            'data-spans="[[1.0, 2.0]]" title="supported — click to hear it">&lt;b&gt;bell&lt;/b&gt;</mark>'
            '<span class="judge-opinion contradicted" title="the LALM judge on this claim">judge: contradicted</span>'
            " &amp; rain.&lt;/think&gt;&lt;answer&gt;B&lt;/answer&gt;</div>") in page
    assert ('<span class="verdict pass" title="verdict of record · policy p&lt;1&gt; · score 0.88">policy: pass'
            '</span><span class="verdict fail history" title="history · lalm v2">lalm: fail (history)</span>'
            '<span class="verdict pass history" title="history · lalm v1 · score 0.90">lalm: pass (history)'
            '</span>') in page
    assert ('<span class="tag warn chain-flag flag-visual_only" title="Flagged: visual-only reasoning (left out of '
            'snapshots unless chosen; docs/curation.md)">⚑ visual-only reasoning</span><span class="tag warn '
            'chain-flag flag-lucky_guess" title="Flagged: lucky guess (left out of snapshots unless chosen; '
            'docs/curation.md)">⚑ lucky guess</span>') in page


def test_it_marks_every_chip_stale_once_an_edit_is_in_force(curator_client: Client) -> None:
    question = make_question(make_dataset(), 1, chains=1)
    chain = question.chains.get()
    edit = "<think>I hear an engine.</think><answer>B</answer>"
    curator_client.post(f"/review/chains/{chain.pk}/decide/", {"action": "edit", "version": 0, "text": edit})
    page = curator_client.get(f"/review/q/{question.pk}/").content.decode()
    assert ('<span class="verdict pass stale" title="judged the text before the edit · verdict of record · lalm v1 · '
            'score 0.90">lalm: pass · not validated since edit</span>') in page
    assert f'<div class="text">{edit.replace("<", "&lt;").replace(">", "&gt;")}</div>' in page  # no claim marks
    header = re.sub(r"\s+", " ", page[page.index("<header>\n          <b>1</b>"):])
    assert header.startswith('<header> <b>1</b> <span class="decision accepted">Accepted</span> <span>answer '
                             '<b>B</b></span> <span class="tag ok">correct</span> <span class="tag warn">edited</span> '
                             '<span class="verdict pass stale"')
    assert '</span> <span class="muted small">v1</span> </header>' in header



@pytest.mark.parametrize("score", [0.0, -0.0, 0.125, 0.005, 0.015, 0.875, 0.999, 0.995, 1.0, -0.001, -0.125, 2.5,
                                   1e-9, 0.1 + 0.2, 12345.675, 1e20, -3.14159, float("nan"), float("inf")])
def test_a_chips_score_reads_as_django_floatformat_wrote_it(score: float) -> None:
    assert two_places(score) == floatformat(score, 2)


def test_an_item_page_masks_its_csrf_token_once_for_the_header_and_every_form(users) -> None:  # noqa: ANN001
    question = make_question(make_dataset(), 1, chains=2)
    curator_client = Client(enforce_csrf_checks=True)
    curator_client.force_login(users["curator"])
    page = curator_client.get(f"/review/q/{question.pk}/").content.decode()
    header = re.search(r'hx-headers=\'\{"X-CSRFToken": "(\w+)"\}\'', page)
    forms = set(re.findall(r'name="csrfmiddlewaretoken" value="(\w+)"', page))
    assert header and len(forms) == 1 and forms == {header[1]}
    r = curator_client.post(f"/review/chains/{question.chains.first().pk}/decide/", {"action": "accept", "version": 0},
                            HTTP_X_CSRFTOKEN=header[1])
    assert r.status_code == 302, r.status_code  # the one token passes the CSRF check


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/St_Johns", "Asia/Kathmandu"])
@pytest.mark.parametrize("moment", [datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC),  # either side of a DST change
                                    datetime(2026, 3, 29, 1, 0, 1, tzinfo=UTC),
                                    datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
                                    datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)])
def test_history_and_lease_times_read_as_djangos_date_filters_wrote_them(zone: str, moment: datetime) -> None:
    with timezone.override(zone):
        assert _when(moment) == date(template_localtime(moment), "Y-m-d H:i:s")
        assert hour_minute(moment) == time(template_localtime(moment), "H:i")


def test_the_panel_escapes_what_curators_wrote_and_offers_undo_where_the_template_did(users) -> None:  # noqa: ANN001
    """The panel built in Python (webapp/curation/panel_html.py): a lease holder's name and a refused note are text, and
    `u` is offered on a question another curator holds only for a decision on the previous question."""
    users["curator"].username = "<b>cur</b>"
    users["curator"].save()
    first, second = make_question(make_dataset("a"), 1, chains=2), make_question(make_dataset("b"), 2, chains=2)
    mine, other = Client(), Client()
    mine.force_login(users["curator"])
    other.force_login(users["admin"])
    chain = first.chains.order_by("sample_index").first()
    assert mine.get(f"/review/q/{first.pk}/").status_code == 200  # the lease is mine
    mine.post(f"/review/chains/{chain.pk}/decide/", {"action": "accept", "version": 0})
    held = other.get(f"/review/q/{first.pk}/").content.decode()
    assert "&lt;b&gt;cur&lt;/b&gt; is reviewing this question until" in held and "<b>cur</b>" not in held
    assert 'id="undo-form"' not in held  # the admin decided nothing: nothing to take back
    other.get(f"/review/q/{second.pk}/")  # the admin now holds the second question
    page = mine.get(f"/review/q/{second.pk}/").content.decode()
    assert "Read-only while alice reviews it." in page
    assert "Undo (u) my last decision on the previous question" in page  # read-only here, undo is of the first
    refused = mine.post(f"/review/chains/{chain.pk}/decide/", {"action": "reject", "version": 0, "reason": "other",
                                                               "note": "<i>n</i>"}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 409 and 'value="&lt;i&gt;n&lt;/i&gt;"' in refused.content.decode()
