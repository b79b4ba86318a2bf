"""Review hot-path reads prepared once (webapp/core/prepared.py): the same objects as their querysets, no SQL built
per request, and the user read keeping ModelBackend's rules."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models.sql.compiler import SQLCompiler
from django.db.transaction import TransactionManagementError
from django.test import Client

from tests.webapp.review_factories import make_dataset, make_question
from webapp.catalog.models import Question
from webapp.core.prepared import Prepared
from webapp.curation.models import Chain

pytestmark = pytest.mark.django_db


def _question_with_media(pk: int):  # type: ignore[no-untyped-def]
    return Question.objects.select_related("dataset", "clip").filter(pk=pk)


def test_a_prepared_query_returns_what_its_queryset_returns_for_each_value(django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    ds = make_dataset()
    questions = [make_question(ds, n, chains=3) for n in (1, 2)]
    prepared = Prepared[Question](_question_with_media, "int")
    prepared.first(questions[0].pk)  # built here, once
    for question in questions:
        expected = _question_with_media(question.pk).get()
        with django_assert_num_queries(1):  # the related rows come with it
            found = prepared.first(question.pk)
            assert found is not None
            assert (found.pk, found.text, found.choices, found.dataset.slug, found.clip.name) == (
                expected.pk, expected.text, expected.choices, expected.dataset.slug, expected.clip.name)
            assert found._state.db == "default" and not found._state.adding
    assert prepared.first(10**6) is None
    # small integer fields take a marker too (PostgreSQL drops an out-of-range value instead of sending it)
    kept = Prepared[Chain](lambda q, s: Chain.objects.filter(question_id=q, sample_index__lt=s)
                           .order_by("sample_index"), "int", "int")
    assert [c.sample_index for c in kept.all(questions[1].pk, 2)] == [0, 1]


def test_it_refuses_a_query_whose_argument_is_not_a_plain_parameter() -> None:
    """An argument folded into another value (here a LIKE pattern) could not be swapped in: refused when built."""
    make_question(make_dataset(), 1)
    prepared = Prepared[Chain](lambda n: Chain.objects.filter(text__contains=str(n)), "int")
    with pytest.raises(ValueError, match="is not a parameter"):
        prepared.all(7)


@pytest.mark.postgres  # SQLite has no row locks: its tier deselects this
@pytest.mark.django_db(transaction=True)  # outside the test's own transaction
def test_a_prepared_lock_is_taken_only_inside_a_transaction() -> None:
    chain = make_question(make_dataset(), 1).chains.first()
    locked = Prepared[Chain](lambda pk: Chain.objects.select_for_update().filter(pk=pk), "int")
    with pytest.raises(TransactionManagementError):
        locked.first(chain.pk)
    with transaction.atomic():
        assert locked.first(chain.pk) == chain


def _built(fn):  # type: ignore[no-untyped-def]
    """The SQL statements Django's ORM built (compiled) while `fn` ran."""
    real = SQLCompiler.as_sql
    built: list[str] = []

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        sql, params = real(self, *args, **kwargs)
        built.append(sql)
        return sql, params

    with mock.patch.object(SQLCompiler, "as_sql", spy):
        result = fn()
    return result, built


def test_the_review_pages_build_few_statements_once_warm(curator_client: Client) -> None:  # type: ignore[no-untyped-def]
    """Building SQL cost more CPU than running it on next, item and decide (bench/review_cpu.py): once warm, their
    reads are prepared and build none (the decision's guarded writes, UPDATE and INSERT, are still built)."""
    ds = make_dataset()
    for n in (1, 2, 3):
        make_question(ds, n, chains=4)
    for _ in range(2):  # the second round is the warm one
        response, next_built = _built(lambda: curator_client.get("/review/next/"))
        assert response.status_code == 302
        response, item_built = _built(lambda r=response: curator_client.get(r["Location"]))
        chain = response.context["chains"][0].chain
        response, decide_built = _built(lambda c=chain: curator_client.post(
            f"/review/chains/{c.pk}/decide/", {"action": "accept", "version": c.version}))
        assert response.status_code == 302
    assert len(next_built) == 0, next_built
    assert len(item_built) == 0, item_built
    assert len(decide_built) == 0, decide_built


def test_an_inactive_or_deleted_curator_is_logged_out_on_the_next_request(users) -> None:  # type: ignore[no-untyped-def]
    bob = users["curator"]
    client = Client()
    client.force_login(bob)
    assert client.get("/review/").status_code == 200
    User.objects.filter(pk=bob.pk).update(is_active=False)
    assert client.get("/review/").status_code == 302  # to the login page
    User.objects.filter(pk=bob.pk).update(is_active=True)
    client.force_login(bob)
    assert client.get("/review/").status_code == 200
    bob.delete()
    assert client.get("/review/").status_code == 302
