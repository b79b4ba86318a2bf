"""The Datasets page reads counters the database keeps (catalog/tallies.py): after clips are added, change status
and size, are re-queued in bulk, and datasets deleted, its counts are the GROUP BYs over every clip and question, and
the page reads neither table."""

from __future__ import annotations

import random

import pytest
from django.db import connection
from django.db.models import Count, Sum
from django.test.utils import CaptureQueriesContext

from tests.webapp.conftest import client_for
from tests.webapp.review_factories import make_dataset, make_question
from webapp.catalog import queries, tallies
from webapp.catalog.housekeeping import delete_dataset, plan_dataset_deletion
from webapp.catalog.models import Clip, ClipTally, Dataset, Question, QuestionTally

pytestmark = pytest.mark.django_db


def reference() -> dict[str, tuple[int, int, dict[str, int], int]]:
    """(questions, clips, clips per status, media bytes) per dataset, counted over every row."""
    found = {}
    for d in Dataset.objects.all():
        per_status = dict(Clip.objects.filter(dataset=d).values_list("status").annotate(n=Count("pk")).order_by())
        size = Clip.objects.filter(dataset=d).aggregate(b=Sum("size_bytes"))["b"] or 0
        found[d.slug] = (Question.objects.filter(dataset=d).count(), sum(per_status.values()),
                         {s: per_status.get(s, 0) for s in Clip.Status.values}, size)
    return found


def shown() -> dict[str, tuple[int, int, dict[str, int], int]]:
    return {d.slug: (d.n_questions, d.n_clips, d.clip_counts, d.media_bytes)  # type: ignore[attr-defined]
            for d in queries.datasets_with_counts(archived=True)}


def test_the_datasets_page_counts_are_the_group_bys_after_a_mix_of_writes() -> None:
    rng = random.Random(7)
    datasets = [make_dataset(f"ds{i}") for i in range(3)]
    for n in range(24):
        make_question(rng.choice(datasets), n, chains=0)
    for _ in range(30):
        clip = rng.choice(list(Clip.objects.all()))
        if rng.random() < 0.5:
            Clip.objects.filter(pk=clip.pk).update(status=rng.choice(["pending", "processing", "ready", "failed"]),
                                                   size_bytes=rng.choice([None, 10, 2000]))
        else:
            clip.status = rng.choice(["ready", "failed"])
            clip.save(update_fields=["status"])
    Clip.objects.filter(dataset=datasets[1]).update(status="pending")
    Question.objects.filter(dataset=datasets[2]).first().delete()
    datasets[0].generation_runs.update(status="succeeded")
    delete_dataset(plan_dataset_deletion(datasets[0]))
    assert shown() == reference() and len(shown()) == 2
    assert not ClipTally.objects.filter(n__lt=0).exists()
    counted = set(ClipTally.objects.filter(n__gt=0).values_list("dataset_id", "status", "n", "size_bytes"))
    tallies.rebuild()
    assert set(ClipTally.objects.filter(n__gt=0).values_list("dataset_id", "status", "n", "size_bytes")) == counted
    assert shown() == reference() and QuestionTally.objects.exists()


def test_the_datasets_page_reads_no_clip_or_question_row(users) -> None:  # type: ignore[no-untyped-def]
    for n in range(3):
        make_question(make_dataset(f"ds{n}"), n, chains=0)
    client = client_for(users["admin"])
    with CaptureQueriesContext(connection) as ctx:
        assert client.get("/").status_code == 200
    assert not [q["sql"] for q in ctx.captured_queries
                if 'FROM "catalog_clip"' in q["sql"] or 'FROM "catalog_question"' in q["sql"]]
