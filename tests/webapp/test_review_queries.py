"""The review flow's cost does not grow with the data: queries per request, and the lease claimed in one statement."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.webapp.review_factories import make_dataset, make_question
from webapp.curation import review
from webapp.curation.models import Lease

pytestmark = pytest.mark.django_db


@pytest.fixture
def carol(users) -> User:  # type: ignore[no-untyped-def]
    other = User.objects.create_user("carol", password="pw-carol")
    other.groups.add(users["curator"].groups.first())
    return other


def _queries(fn) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def _decide_all(user: User, question) -> None:  # type: ignore[no-untyped-def]
    for chain in question.chains.all():
        review.decide(user, chain.pk, chain.version, "accept")


def test_it_claims_the_next_question_in_the_same_queries_however_many_are_done(users, carol) -> None:  # type: ignore[no-untyped-def]
    bob = users["curator"]
    ds = make_dataset()
    questions = [make_question(ds, n) for n in range(1, 9)]
    counts = []
    for done in (1, 6):
        Lease.objects.all().delete()
        for q in questions[:done]:
            if q.chains.filter(decision="pending").exists():
                _decide_all(bob, q)
        Lease.objects.all().delete()
        counts.append(_queries(lambda: review.claim_next(carol)))
        assert Lease.objects.get(curator=carol).question == questions[done]
    assert counts[0] == counts[1]


def test_it_serves_the_item_page_in_the_same_queries_for_more_chains_and_history(curator_client: Client,
                                                                              users) -> None:  # type: ignore[no-untyped-def]
    bob = users["curator"]
    ds = make_dataset()
    small, large = make_question(ds, 1, chains=2), make_question(ds, 2, chains=8)
    counts = []
    for question in (small, large):
        curator_client.get(f"/review/q/{question.pk}/")
        for chain in question.chains.order_by("sample_index")[:2]:  # some history on each, then an undo
            review.decide(bob, chain.pk, chain.version, "flag")
        chain.refresh_from_db()
        review.undo(bob, chain.pk, chain.version)
        counts.append(_queries(lambda q=question: curator_client.get(f"/review/q/{q.pk}/")))
    assert counts[0] == counts[1]


def test_it_takes_an_expired_lease_renews_its_own_and_refuses_a_held_one(users, carol) -> None:  # type: ignore[no-untyped-def]
    bob = users["curator"]
    question = make_question(make_dataset(), 1)
    assert review.try_claim(bob, question.pk)
    first = Lease.objects.get(question=question)
    assert not review.try_claim(carol, question.pk)
    assert Lease.objects.get(question=question).curator == bob
    assert review.try_claim(bob, question.pk)  # a renewal keeps when it was acquired
    renewed = Lease.objects.get(question=question)
    assert renewed.acquired_at == first.acquired_at and renewed.expires_at >= first.expires_at
    Lease.objects.filter(question=question).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert review.try_claim(carol, question.pk)
    taken = Lease.objects.get(question=question)
    assert taken.curator == carol and taken.acquired_at > first.acquired_at and taken.is_active
    assert Lease.objects.count() == 1


def test_it_hands_back_the_previous_question_only_when_opening_a_new_one(curator_client: Client, users) -> None:  # type: ignore[no-untyped-def]
    bob = users["curator"]
    ds = make_dataset()
    q1, q2 = make_question(ds, 1), make_question(ds, 2)
    curator_client.get(f"/review/q/{q1.pk}/")
    curator_client.get(f"/review/q/{q2.pk}/")
    assert not Lease.objects.get(question=q1).is_active and Lease.objects.get(question=q2).curator == bob
    with CaptureQueriesContext(connection) as ctx:
        curator_client.get(f"/review/q/{q2.pk}/")  # a reload renews the lease: nothing to hand back
    assert Lease.objects.get(question=q2).is_active
    assert not [q for q in ctx.captured_queries if q["sql"].startswith("UPDATE")]


def test_it_reads_the_curators_groups_once_per_item_page(curator_client: Client, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    """The role guard and the navigation's role flags share one read of the groups (it was five: 13 → 9 queries).

    The ten: session, user, groups, question, lease renewal, chains, verdicts, history, the undo target, and what
    an evaluation's student answered on the question (hard items; webapp/training/hard_items.py).
    """
    question = make_question(make_dataset(), 1, chains=4)
    curator_client.get(f"/review/q/{question.pk}/")  # takes the lease: the page below is a plain reload
    with django_assert_num_queries(10) as ctx:
        response = curator_client.get(f"/review/q/{question.pk}/")
    assert response.status_code == 200 and response.context["is_curator"] and not response.context["is_admin"]
    assert len([q for q in ctx.captured_queries if "auth_group" in q["sql"]]) == 1


def test_it_serves_next_without_building_the_curator_filter(curator_client: Client) -> None:  # type: ignore[no-untyped-def]
    """Next item never shows the queue's curator filter: building its choices for every request ran a query (the
    blind studies under way) and a fifth of the request's CPU."""
    make_question(make_dataset(), 1, chains=2)
    with CaptureQueriesContext(connection) as ctx:
        response = curator_client.get("/review/next/")
    assert response.status_code == 302
    assert not [q for q in ctx.captured_queries if q["sql"].startswith('SELECT "catalog_dataset"."id"')]


def test_it_decides_in_the_same_queries_for_more_chains_questions_and_history(curator_client: Client,
                                                                            users) -> None:  # type: ignore[no-untyped-def]
    """A decision's queries do not grow with the question's chains, the dataset's questions or the curator's
    history (bench/review_cpu.py counts 11 on PostgreSQL at 3k, 50k and 500k questions)."""
    bob = users["curator"]
    ds = make_dataset()
    small = make_question(ds, 1, chains=2)
    counts = []
    for question in (small, make_question(ds, 2, chains=8)):
        for n in range(3, 3 + 6 * len(counts)):  # more questions and more of bob's history the second time
            _decide_all(bob, make_question(ds, n * 10, chains=2))
        curator_client.get(f"/review/q/{question.pk}/")  # takes the lease, as the curator's page did
        first, second = question.chains.order_by("sample_index")[:2]
        review.decide(bob, first.pk, first.version, "flag")
        counts.append(_queries(lambda c=second: curator_client.post(f"/review/chains/{c.pk}/decide/",
                                                                     {"action": "accept", "version": c.version})))
    assert counts[0] == counts[1]
