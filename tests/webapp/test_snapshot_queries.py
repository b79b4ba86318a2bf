"""Building a snapshot streams from the database: a fixed number of queries, whatever the number of chains.

At 400k chains (bench/freeze.py) a query per chain, or per question, would be hundreds of thousands of round trips;
freezing reads the chains with one streamed query and writes them in batches (`snapshots.BATCH`), so below a
batch the whole build (freeze, provenance, every export file) must not grow with the chains at all.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.webapp.review_factories import make_dataset, make_question
from webapp.catalog.models import Dataset
from webapp.curation.review import claim, decide
from webapp.training.models import DatasetSnapshot

pytestmark = pytest.mark.django_db(transaction=True)

EDITED = "<think>A car engine revs, then fades.</think><answer>B</answer>"


def _curated(users, slug: str, n_questions: int) -> Dataset:
    """Per question: chain 0 edited, chain 1 accepted, chain 2 rejected as a hallucination (a preference pair)."""
    dataset = make_dataset(slug)
    curator = users["curator"]
    for n in range(n_questions):
        q = make_question(dataset, n, chains=3)
        claim(curator, q.pk)
        for chain in q.chains.order_by("sample_index"):
            action = ("edit", "accept", "reject")[chain.sample_index]
            decide(curator, chain.pk, chain.version, action, question_id=q.pk,
                   edited_text=EDITED if action == "edit" else "",
                   reason="hallucinated-sound" if action == "reject" else "")
    return dataset


def _build(client: Client, run_worker, dataset: Dataset) -> tuple[int, DatasetSnapshot]:
    """Queries the snapshot job ran (freeze, provenance, export), and the snapshot it built."""
    assert client.post("/snapshots/new/", {"dataset": dataset.pk}).status_code == 302
    with CaptureQueriesContext(connection) as queries:
        run_worker("default")
    snapshot = DatasetSnapshot.objects.get(dataset=dataset)
    assert snapshot.status == "succeeded", snapshot.error
    return len(queries), snapshot


def test_it_builds_a_snapshot_in_as_many_queries_for_30_questions_as_for_3(users, admin_client: Client,
                                                                            run_worker) -> None:
    few, small = _build(admin_client, run_worker, _curated(users, "few", 3))
    many, large = _build(admin_client, run_worker, _curated(users, "many", 30))
    assert (small.chain_count, large.chain_count) == (6, 60)
    files = {f["name"]: f["rows"] for f in large.export_files}
    assert files["preferences.jsonl"] == 60 and files["sft.jsonl"] == 60  # an edit and a hallucination pair each
    assert many == few, f"{few} queries for 3 questions, {many} for 30"
