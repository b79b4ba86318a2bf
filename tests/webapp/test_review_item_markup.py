"""What an item page's chain card shows, to the byte: the claim highlights, the verdict chips and the flag chips are
built in Python (webapp/curation/fragments.py) where included templates drew them, and must read as before."""

from __future__ import annotations

import re

import pytest
from django.template.defaultfilters import floatformat
from django.test import Client

from pipeline.flags import FLAGS
from tests.webapp.review_factories import make_dataset, make_question
from webapp.curation.fragments import two_places
from webapp.curation.models import Chain, Verdict

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
