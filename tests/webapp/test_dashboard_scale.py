"""The dashboard's inter-curator agreement is counted by the database: the same figures as replaying every chain's
history in Python (what it did before), in a number of queries that does not grow with the chains reviewed."""

from __future__ import annotations

from collections import Counter

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.webapp.conftest import client_for
from tests.webapp.review_factories import make_dataset, make_question
from tests.webapp.test_review_tallies import reference_curator_agreement
from webapp.catalog.models import Dataset
from webapp.curation import review
from webapp.curation.review import dashboards

pytestmark = pytest.mark.django_db


def _study(slug: str, curators: list[User], questions: int, *, leave_open: bool) -> Dataset:
    """Overlap 3: every curator decides every chain (a mix of agreements), the first curator takes one decision
    back and makes it again, and (leave_open) the last question keeps a chain the third curator has not decided."""
    dataset = make_dataset(slug)
    dataset.review_overlap = 3
    dataset.save(update_fields=["review_overlap"])
    for n in range(questions):
        question = make_question(dataset, n, chains=3)
        for c, curator in enumerate(curators[:3]):
            for k, chain in enumerate(question.chains.order_by("sample_index")):
                if leave_open and n == questions - 1 and c == 2 and k == 2:
                    continue
                action = "accept" if (n + k + c * (k + 1)) % 3 else "reject"
                review.decide(curator, chain.pk, 0, action, reason="other" if action == "reject" else "", note="n")
                if c == 0 and k == 1 and n % 2 == 0:  # taken back, then decided the other way
                    review.undo(curator, chain.pk, 1)
                    other = "reject" if action == "accept" else "accept"
                    review.decide(curator, chain.pk, 2, other, reason="other" if other == "reject" else "", note="n")
    return dataset


def _replayed(user: User | None) -> dashboards.CuratorAgreement:
    """What curator_agreement computed before: every overlapped chain's history replayed in Python."""
    return reference_curator_agreement(user)


def test_it_counts_curator_agreement_in_sql_with_the_figures_the_replay_gives(users, curators) -> None:  # type: ignore[no-untyped-def]
    people = [curators["carol"], curators["bob"], curators["dave"]]
    _study("settled", people, 4, leave_open=False)
    _study("under-way", people, 3, leave_open=True)
    for viewer in (users["admin"], curators["frank"], None):
        found = dashboards.curator_agreement(viewer)
        assert found == _replayed(viewer)
        assert found.items > 0 and len(found.pairs) == 3
    assert dashboards.curator_agreement(users["admin"]).pairs != dashboards.curator_agreement(curators["frank"]).pairs


def test_the_dashboard_runs_as_many_queries_for_many_reviewed_chains_as_for_few(users, curators) -> None:  # type: ignore[no-untyped-def]
    people = [curators["carol"], curators["bob"], curators["dave"]]
    counted: list[Counter[str]] = []
    for slug, questions in (("small", 2), ("large", 6)):
        _study(slug, people, questions, leave_open=True)
        for viewer in (users["admin"], curators["frank"]):
            client = client_for(viewer)
            client.get("/review/dashboard/")  # sessions, role caches
            with CaptureQueriesContext(connection) as ctx:
                assert client.get("/review/dashboard/").status_code == 200
            counted.append(Counter({viewer.username: len(ctx.captured_queries)}))
    assert counted[0] == counted[2] and counted[1] == counted[3]


def test_curator_agreement_reads_tallies_and_no_review_of_the_shared_chains(users, curators) -> None:  # type: ignore[no-untyped-def]
    """Each curator's newest label was picked over every shared chain's reviews (2-2.7 s at 4M chains), and chains
    with an undo were replayed row by row: now the triggers keep the labels and the tables (agreement_tallies.py),
    and the only reviews read are the few rulings (their partial index)."""
    _study("settled", [curators["carol"], curators["bob"], curators["dave"]], 3, leave_open=False)
    _study("under-way", [curators["carol"], curators["bob"], curators["dave"]], 2, leave_open=True)
    for viewer in (users["admin"], curators["frank"], curators["bob"]):
        with CaptureQueriesContext(connection) as ctx:
            found = dashboards.curator_agreement(viewer)
        assert found == _replayed(viewer) and found.items > 0
        sql = [q["sql"] for q in ctx.captured_queries]
        assert not [q for q in sql if '"curation_sharedchain"' in q], sql
        reviews = [q for q in sql if '"curation_review"' in q]
        assert all("\"action\" = 'adjudicate'" in q and "NOT (" not in q for q in reviews), reviews


def test_a_curators_dashboard_tables_hide_studies_without_joining_every_review_to_its_question(users, curators) -> None:  # type: ignore[no-untyped-def]
    """The per-curator and per-day tables hid a study under way by joining each review to its chain, question and
    dataset (3-4 s a table at 400k reviews); the study's chains are now one subquery."""
    _study("under-way", [curators["carol"], curators["bob"], curators["dave"]], 2, leave_open=True)
    frank = curators["frank"]
    with CaptureQueriesContext(connection) as ctx:
        by_curator, by_day = dashboards.progress_by_curator(frank), dashboards.progress_by_day(user=frank)
    assert by_curator == [] and by_day == []  # all of it is the study's, which frank is not in
    admin_view = dashboards.progress_by_curator(users["admin"])
    assert {r["curator"] for r in admin_view} == {"carol", "bob", "dave"}
    for query in ctx.captured_queries:
        if query["sql"].startswith("SELECT") and '"curation_review"' in query["sql"]:
            assert 'JOIN "catalog_question"' not in query["sql"].split(" WHERE ")[0], query["sql"]


def test_a_curators_per_curator_and_per_day_tables_read_no_review_row(users, curators) -> None:  # type: ignore[no-untyped-def]
    """Other curators' reviews in a study under way were subtracted from the tally counted live (~0.5 s a table at
    500k questions): the tally now keeps reviews per dataset, and a curator's tables leave the study's rows out."""
    people = [curators["carol"], curators["bob"], curators["dave"]]
    _study("under-way", people, 2, leave_open=True)
    _study("settled", people, 1, leave_open=False)
    for viewer in (curators["frank"], curators["bob"]):
        with CaptureQueriesContext(connection) as ctx:
            by_curator, by_day = dashboards.progress_by_curator(viewer), dashboards.progress_by_day(user=viewer)
        shown = {r["curator"] for r in by_curator}
        assert shown == {"carol", "bob", "dave"} and by_day
        assert not [q["sql"] for q in ctx.captured_queries if '"curation_review"' in q["sql"]]
    frank = {r["curator"]: r["total"] for r in dashboards.progress_by_curator(curators["frank"])}
    bob = {r["curator"]: r["total"] for r in dashboards.progress_by_curator(curators["bob"])}
    assert frank["carol"] == bob["carol"] < bob["bob"] and frank["bob"] < bob["bob"]  # bob sees his own study reviews


def test_progress_per_dataset_counts_chains_without_joining_them_to_questions(users, curators) -> None:  # type: ignore[no-untyped-def]
    """Progress joined every kept chain to its question and dataset (3.3 s at 4M chains) and, for a curator, tested
    each chain's question for openness: now chains are grouped by run, open questions are one subquery."""
    _study("under-way", [curators["carol"], curators["bob"], curators["dave"]], 2, leave_open=True)
    for viewer, pending in ((users["admin"], 1), (curators["frank"], 3)):  # frank sees the open question pending
        with CaptureQueriesContext(connection) as ctx:
            (row,) = dashboards.progress_by_dataset(viewer)
        assert (row["slug"], row["total"], row["pending"]) == ("under-way", 6, pending)
        assert row["accepted"] + row["rejected"] + row["flagged"] + row["pending"] == 6
        for query in ctx.captured_queries:
            if 'FROM "curation_chain"' in query["sql"] and "COUNT" in query["sql"]:
                assert 'JOIN "catalog_question"' not in query["sql"].split(" WHERE ")[0], query["sql"]
