"""The question page shows each chain with its answer, correctness, verdicts and clickable claim spans."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from webapp.catalog.models import Clip, Dataset, Question
from webapp.curation.models import Chain, GenerationRun, Verdict
from webapp.curation.presenters import highlight

pytestmark = pytest.mark.django_db

TEXT = "<think>I hear a dog barking twice, then <b>no</b> traffic.</think><answer>B</answer>"


@pytest.fixture
def question() -> Question:
    ds = Dataset.objects.create(name="d", slug="d", source_format="avqa")
    clip = Clip.objects.create(dataset=ds, name="c", kind="video", media_path="media/d/c.mp4", status="ready",
                               duration=10.0)
    return Question.objects.create(dataset=ds, clip=clip, external_id="1", text="What barks?",
                                   choices=["cat", "dog", "cow", "owl"], answer_index=1, answer_text="dog",
                                   split="train", content_hash="h")


def _claims() -> list[dict]:
    dog = TEXT.index("a dog barking twice")
    traffic = TEXT.index("<b>no</b> traffic")
    return [
        {"text": "a dog barking twice", "verdict": "supported", "char_start": dog, "char_end": dog + 19,
         "spans": [[1.5, 2.25], [4.0, 4.5]]},
        {"text": "<b>no</b> traffic", "verdict": "contradicted", "char_start": traffic,
         "char_end": traffic + len("<b>no</b> traffic"), "spans": []},
    ]


def test_it_cuts_text_at_claims_and_ignores_bad_offsets() -> None:
    claims = _claims() + [{"char_start": 5, "char_end": 500}, {"char_start": "x", "char_end": 3}]
    segments = highlight(TEXT, claims)
    assert "".join(s.text for s in segments) == TEXT
    marked = [s.text for s in segments if s.claim]
    assert marked == ["a dog barking twice", "<b>no</b> traffic"]


def test_it_shows_chains_with_verdicts_and_playable_claims(curator_client: Client, question: Question) -> None:
    run = GenerationRun.objects.create(dataset=question.dataset, model="tiny", samples_per_question=2)
    chain = Chain.objects.create(run=run, question=question, sample_index=0, text=TEXT, parsed_answer=1,
                                 is_correct=True, n_tokens=30, finish_reason="stop")
    Chain.objects.create(run=run, question=question, sample_index=1, text="<answer>A</answer>", parsed_answer=0,
                         is_correct=False, kept=False, drop_reason="wrong_answer")
    Verdict.objects.create(chain=chain, validator="sound-events", validator_version="v1", label="fail", score=0.4,
                           claims=_claims())
    html = curator_client.get(f"/questions/{question.pk}/").content.decode()
    assert html.count('<article class="chain') == 2 and "dropped: wrong_answer" in html
    assert "answer <b>B</b>" in html and "tag ok" in html and "sound-events: fail" in html
    assert '<mark class="claim supported" tabindex="0" data-spans="' in html
    assert json.dumps([[1.5, 2.25], [4.0, 4.5]]).replace('"', "&quot;") in html or "[[1.5, 2.25], [4.0, 4.5]]" in html
    assert "<b>no</b>" not in html and "&lt;b&gt;no&lt;/b&gt; traffic" in html  # model output is escaped
