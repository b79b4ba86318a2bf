"""Hard items back to review: an evaluation's misses go to a review filter in one click, with the student's output on
the item page; a test split never does (webapp/training/hard_items.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from tests.webapp.review_factories import make_dataset, make_question
from webapp.curation.models import StudentMiss
from webapp.training.models import TrainingRun

pytestmark = pytest.mark.django_db


def evaluation(media_root: Path, dataset_id: int, split: str, rows: list[dict[str, object]]) -> TrainingRun:
    rel = f"runs/eval-{split}/predictions.jsonl"
    path = media_root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"id": "q9", "corr')  # a line cut off at the end
    return TrainingRun.objects.create(stage="eval", base_model="tiny", status="succeeded",
                                      config={"_eval": {"dataset": dataset_id, "split": split}},
                                      results={"predictions": rel, "accuracy": 0.25, "n": len(rows)})


def predictions(questions) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    right, wrong, silent_only, gone = questions[0], questions[1], questions[2], 10_000
    return [
        {"id": f"q{right.pk}", "correct": True, "completion": "<answer>B</answer>", "correct_silent": False},
        {"id": f"q{wrong.pk}", "correct": False, "completion": "<think>a dog barks</think><answer>A</answer>",
         "completion_silent": "<answer>C</answer>", "correct_silent": False},
        {"id": f"q{silent_only.pk}", "correct": False,
         "completion": "<think>an <b>engine</b></think><answer>D</answer>",
         "completion_silent": "<answer>B</answer>", "correct_silent": True},
        {"id": f"q{gone}", "correct": False, "completion": "<answer>A</answer>"},
    ]


def test_one_click_sends_the_misses_to_a_review_filter(curator_client: Client, media_root: Path) -> None:
    ds = make_dataset()
    qs = [make_question(ds, n, split="val") for n in (1, 2, 3)]
    run = evaluation(media_root, ds.pk, "val", predictions(qs))
    page = curator_client.get(reverse("training:run", args=[run.pk])).content.decode()
    assert "Send the misses to review" in page
    r = curator_client.post(reverse("training:run_hard_items", args=[run.pk]), follow=True)
    assert r.redirect_chain[-1][0] == f"{reverse('review:queue')}?hard={run.pk}&decision=any"
    assert "Sent to review: 1 wrong and 1 wrong only with the audio (right when silenced); 1 no longer in the " \
           "catalog." in r.content.decode()
    assert dict(StudentMiss.objects.values_list("question_id", "kind")) == {qs[1].pk: "wrong", qs[2].pk: "silent_only"}
    listed = {c.question_id for c in r.context["page"]}
    assert listed == {qs[1].pk, qs[2].pk}  # every chain of the missed questions, decided or not
    curator_client.post(reverse("training:run_hard_items", args=[run.pk]))
    assert StudentMiss.objects.count() == 2  # a second click adds nothing


def test_the_item_page_shows_what_the_student_answered_escaped(curator_client: Client, media_root: Path) -> None:
    ds = make_dataset()
    qs = [make_question(ds, n, split="train") for n in (1, 2, 3)]
    run = evaluation(media_root, ds.pk, "train", predictions(qs))
    curator_client.post(reverse("training:run_hard_items", args=[run.pk]))
    page = curator_client.get(reverse("review:item", args=[qs[2].pk])).content.decode()
    assert f"evaluation #{run.pk} (train): answered <b>D</b> — wrong, but right with the audio silenced" in page
    assert "an &lt;b&gt;engine&lt;/b&gt;" in page and "an <b>engine</b>" not in page
    assert 'id="student-misses"' not in curator_client.get(reverse("review:item", args=[qs[0].pk])).content.decode()


def test_a_test_split_never_goes_back_to_review(curator_client: Client, media_root: Path) -> None:
    ds = make_dataset()
    qs = [make_question(ds, n, split="test") for n in (1, 2, 3)]
    run = evaluation(media_root, ds.pk, "test", predictions(qs))
    page = curator_client.get(reverse("training:run", args=[run.pk])).content.decode()
    assert "Send the misses to review" not in page and "the test split stays unseen" in page
    r = curator_client.post(reverse("training:run_hard_items", args=[run.pk]))
    assert r.status_code == 400 and not StudentMiss.objects.exists()
    every_split = evaluation(media_root, ds.pk, "", predictions(qs))
    assert curator_client.post(reverse("training:run_hard_items", args=[every_split.pk])).status_code == 400


def test_only_signed_in_curators_send_misses(nobody_client: Client, client: Client, media_root: Path) -> None:
    ds = make_dataset()
    qs = [make_question(ds, n, split="val") for n in (1, 2, 3)]
    run = evaluation(media_root, ds.pk, "val", predictions(qs))
    url = reverse("training:run_hard_items", args=[run.pk])
    assert nobody_client.post(url).status_code == 403
    assert client.post(url).status_code == 302  # to the login page
    assert not StudentMiss.objects.exists()
