"""Review hot-path reads and a decision's writes prepared once (webapp/core/prepared.py): the same objects and rows
as their querysets, no SQL built per request, and the user read keeping ModelBackend's rules."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.db.models.signals import post_save
from django.db.models.sql.compiler import SQLCompiler, SQLInsertCompiler, SQLUpdateCompiler
from django.db.transaction import TransactionManagementError
from django.test import Client

from tests.webapp.review_factories import make_dataset, make_question
from webapp.catalog.models import Question
from webapp.core.prepared import Prepared, PreparedInsert, PreparedUpdate
from webapp.curation.models import Chain, Review

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
    built: list[str] = []

    def spying(real):  # type: ignore[no-untyped-def]
        def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            compiled = real(self, *args, **kwargs)
            built.append(str(compiled))
            return compiled
        return spy

    with mock.patch.object(SQLCompiler, "as_sql", spying(SQLCompiler.as_sql)), \
            mock.patch.object(SQLInsertCompiler, "as_sql", spying(SQLInsertCompiler.as_sql)), \
            mock.patch.object(SQLUpdateCompiler, "as_sql", spying(SQLUpdateCompiler.as_sql)):
        result = fn()
    return result, built


def test_the_review_pages_build_few_statements_once_warm(curator_client: Client) -> None:  # type: ignore[no-untyped-def]
    """Building SQL cost more CPU than running it on next, item and decide (bench/review_cpu.py): once warm, their
    reads are prepared and build none, and so are the decision's guarded writes (its UPDATE and INSERT)."""
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


def test_a_prepared_insert_stores_the_row_the_orm_would(users) -> None:  # type: ignore[no-untyped-def]
    """Every column as Review.objects.create writes it (defaults, blanks, NULLs), and the object comes back saved."""
    chain = make_question(make_dataset(), 1).chains.first()
    columns = [f.attname for f in Review._meta.concrete_fields if not f.primary_key]
    by_orm = Review.objects.create(chain=chain, curator=users["curator"], action="accept", from_decision="pending",
                                   to_decision="accepted", chain_version=0, note="ok <b>", curator_version=None)
    prepared = PreparedInsert(Review).insert(Review(chain=chain, curator=users["curator"], action="accept",
                                                    from_decision="pending", to_decision="accepted",
                                                    chain_version=1, note="ok <b>", curator_version=None))
    assert prepared.pk and prepared.pk != by_orm.pk and not prepared._state.adding
    stored = {r.pk: r for r in Review.objects.all()}
    assert {c: getattr(stored[prepared.pk], c) for c in columns if c not in ("chain_version", "created_at")} == \
        {c: getattr(stored[by_orm.pk], c) for c in columns if c not in ("chain_version", "created_at")}
    assert stored[prepared.pk].created_at == prepared.created_at  # the field's default, taken at construction


def test_a_prepared_insert_refuses_a_model_that_has_save_receivers(users) -> None:  # type: ignore[no-untyped-def]
    """A receiver added later is not silently skipped: the insert refuses rather than bypass it."""
    chain = make_question(make_dataset(), 1).chains.first()

    def receiver(**kwargs):  # type: ignore[no-untyped-def]
        pass

    post_save.connect(receiver, sender=Review)
    try:
        with pytest.raises(RuntimeError, match="save signal receivers"):
            PreparedInsert(Review).insert(Review(chain=chain, curator=users["curator"], action="accept",
                                                 from_decision="pending", to_decision="accepted", chain_version=0))
    finally:
        post_save.disconnect(receiver, sender=Review)
    assert not Review.objects.exists()


def test_a_prepared_update_changes_only_the_rows_its_filter_holds() -> None:
    """The guarded write of a decision: it moves the chain only from the version given, and says how many rows."""
    chain = make_question(make_dataset(), 1).chains.first()
    guarded = PreparedUpdate(lambda pk, seen, decision: (Chain.objects.filter(pk=pk, version=seen),
                                                         {"version": F("version") + 1, "decision": decision}),
                             "int", "int", "str")
    assert guarded.update(chain.pk, chain.version + 1, "rejected") == 0  # not the version it holds
    assert guarded.update(chain.pk, chain.version, "accepted") == 1
    chain.refresh_from_db()
    assert (chain.version, chain.decision) == (1, "accepted")
    assert guarded.update(chain.pk, 1, "rejected") == 1 and Chain.objects.get(pk=chain.pk).version == 2
    with pytest.raises(ValueError, match="is not a parameter"):  # a value folded into SQL cannot be swapped in
        PreparedUpdate(lambda pk: (Chain.objects.filter(text__contains=str(pk)), {"kept": False}), "int").update(1)
