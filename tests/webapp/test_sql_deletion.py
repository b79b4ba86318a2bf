"""Deleting a dataset or a generation run in SQL removes exactly what Django's collector removed, without loading
the rows into Python."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from django.apps import apps
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.webapp.conftest import client_for
from tests.webapp.review_factories import make_dataset, make_question
from webapp.catalog.models import Dataset, ImportRun, Question
from webapp.core.cascade import Cascade
from webapp.curation.models import (
    Chain,
    ChainRevision,
    GenerationRun,
    Lease,
    Review,
    StudentMiss,
    TeacherQuestion,
    Verdict,
)

pytestmark = pytest.mark.django_db


def _dataset(slug: str, curator) -> Dataset:  # type: ignore[no-untyped-def]
    """A teacher run's chains judged by a validation run (its verdicts the chains' of record), reviewed and edited,
    with the per-question rows every app keeps."""
    dataset = make_dataset(slug)
    ImportRun.objects.create(dataset=dataset, source_format="avqa", source_name="a.json", split="train",
                             status="succeeded")
    teacher = GenerationRun.objects.create(dataset=dataset, kind="teacher", status="succeeded")
    for n in range(3):
        question = make_question(dataset, n, chains=2, run=teacher)
        TeacherQuestion.objects.create(run=teacher, question=question, agreement=1.0, n_samples=2,
                                       n_parsed=2, n_correct=2)
        StudentMiss.objects.create(question=question, evaluation_id=1, evaluation_label="eval", kind="wrong")
    Lease.objects.create(question=question, curator=curator, expires_at=timezone.now())
    validation = GenerationRun.objects.create(dataset=dataset, kind="validation", source_run=teacher,
                                              status="succeeded")
    for chain in Chain.objects.filter(run=teacher):
        chain.verdict = Verdict.objects.create(chain=chain, run=validation, validator="lalm", validator_version="v2",
                                               label="pass", score=0.5)
        chain.save(update_fields=["verdict"])
    chain = Chain.objects.filter(run=teacher).first()
    review = Review.objects.create(chain=chain, curator=curator, action="edit", from_decision="pending",
                                   to_decision="accepted", chain_version=0, edited_text="x")
    ChainRevision.objects.create(review=review, chain=chain, text="x")
    Review.objects.create(chain=chain, curator=curator, action="accept", from_decision="pending",
                          to_decision="accepted", chain_version=1)
    return dataset


def _state() -> dict[str, list[tuple]]:
    """Every row of every table, every column."""
    return {m._meta.label: list(m._base_manager.order_by("pk").values_list(
        *[f.attname for f in m._meta.concrete_fields])) for m in apps.get_models() if m._meta.managed}


def _rolled_back(work: Callable[[], Counter[str]]) -> tuple[Counter[str], dict[str, list[tuple]]]:
    with transaction.atomic():
        removed = +Counter(work())
        state = _state()
        transaction.set_rollback(True)
    return removed, state


def _collector(roots: Callable[[], list]) -> Counter[str]:  # the deletion as it was: Django's own, root by root
    removed: Counter[str] = Counter()
    for qs in roots():
        removed.update(qs.delete()[1])
    return removed


ROOTS = {
    "dataset": lambda: [Question.objects.filter(dataset__slug="one"), Dataset.objects.filter(slug="one")],
    "validation run": lambda: [Verdict.objects.filter(run__kind="validation", run__dataset__slug="one"),
                               GenerationRun.objects.filter(kind="validation", dataset__slug="one")],
    "teacher run (taking its validation run along)": lambda: [
        Verdict.objects.filter(run__kind="teacher", run__dataset__slug="one"),
        GenerationRun.objects.filter(kind="teacher", dataset__slug="one")],
}


@pytest.mark.parametrize("subject", list(ROOTS))
def test_it_deletes_in_sql_exactly_what_djangos_collector_deletes(subject, users) -> None:  # type: ignore[no-untyped-def]
    _dataset("one", users["curator"])
    _dataset("two", users["curator"])  # untouched
    before = _state()
    expected_removed, expected_state = _rolled_back(lambda: _collector(ROOTS[subject]))
    assert _state() == before and expected_removed[Chain._meta.label] + expected_removed[Verdict._meta.label] > 0

    counted = +Cascade(*ROOTS[subject]()).counts()
    removed, state = _rolled_back(lambda: Cascade(*ROOTS[subject]()).delete())
    assert counted == expected_removed
    assert removed == expected_removed
    assert state == expected_state  # the same rows gone, the same references cleared (SET_NULL), nothing else


def test_it_previews_a_deletion_without_reading_the_chains(users) -> None:  # type: ignore[no-untyped-def]
    dataset = _dataset("one", users["curator"])
    run = GenerationRun.objects.get(dataset=dataset, kind="validation")
    admin = client_for(users["admin"])
    for url, verdicts in ((f"/datasets/{dataset.slug}/delete/", 12), (f"/runs/{run.pk}/delete/", 6)):
        with CaptureQueriesContext(connection) as ctx:
            page = admin.get(url).content.decode()
        assert f'<td>verdicts</td><td class="num">{verdicts}</td>' in page
        reads = [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith("EXPLAIN")  # a plan, no rows
                 and (q["sql"].upper().startswith('SELECT "CURATION_CHAIN"') or 'FROM "CURATION_CHAIN" WHERE' in
                      q["sql"].upper().split(" IN ")[0] and "COUNT(" not in q["sql"].upper())]
        assert reads == [], url  # counted per table in SQL: no chain row comes back to Python
    assert Chain.objects.count() == 6 and Verdict.objects.count() == 12  # the preview deleted nothing


def test_a_large_deletion_preview_says_about_instead_of_counting_every_row(users, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from webapp.core import paging

    monkeypatch.setattr(paging, "EXACT_COUNT_UP_TO", 5)
    dataset = _dataset("one", users["curator"])
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    with CaptureQueriesContext(connection) as ctx:
        page = client_for(users["admin"]).get(f"/datasets/{dataset.slug}/delete/").content.decode()
    if connection.vendor != "postgresql":  # no estimate: small deployments count exactly
        assert '<td>verdicts</td><td class="num">12</td>' in page and "about" not in page
        return
    assert '<td>verdicts</td><td class="num">about ' in page  # 12 verdicts: above the threshold of 5
    assert '<td>reviews</td><td class="num">2</td>' in page  # below it: exact
    full = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper() and "LIMIT" not in q["sql"].upper()]
    assert full == []


def test_a_blocked_deletion_preview_counts_nothing(users) -> None:  # type: ignore[no-untyped-def]
    dataset = _dataset("one", users["curator"])
    teacher = GenerationRun.objects.get(dataset=dataset, kind="teacher")  # its validation run judges its chains
    with CaptureQueriesContext(connection) as ctx:
        response = client_for(users["admin"]).get(f"/runs/{teacher.pk}/delete/")
    assert 'id="delete-blocked"' in response.content.decode() and response.context["plan"].rows == []
    assert not [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]


@pytest.mark.parametrize("subject", list(ROOTS))
def test_a_preview_counting_or_estimating_finds_exactly_the_rows_the_deletion_removes(subject, users) -> None:  # type: ignore[no-untyped-def]
    _dataset("one", users["curator"])
    _dataset("two", users["curator"])
    cascade = Cascade(*ROOTS[subject]())
    for model in cascade.models:
        removed = sorted(cascade.rows(model).values_list("pk", flat=True))
        assert sorted(cascade.probe(model).values_list("pk", flat=True)) == removed, model._meta.label
        assert sorted(cascade.estimable(model).values_list("pk", flat=True)) == removed, model._meta.label
        # what the planner is asked about: one path's rows, never a row the deletion keeps
        assert set(cascade.guessed(model).values_list("pk", flat=True)) <= set(removed), model._meta.label


@pytest.mark.postgres
def test_a_deletion_preview_counts_a_few_rows_by_looking_up_each_ones_parent(users) -> None:  # type: ignore[no-untyped-def]
    """Counted as the deletion reads them, a dataset's 3 leases or none of 36k shared chains made PostgreSQL hash
    every chain of the dataset first: at 500k questions (4M chains) the preview took 4.8 s, 1.3 s this way."""
    dataset = _dataset("one", users["curator"])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    with CaptureQueriesContext(connection) as ctx:
        page = client_for(users["admin"]).get(f"/datasets/{dataset.slug}/delete/").content.decode()
    assert '<td>leases</td><td class="num">1</td>' in page
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper() and "LIMIT" in q["sql"].upper()
              and 'FROM "curation_lease"' in q["sql"]]
    assert counts and all('"curation_lease"."question_id" IN (SELECT' not in sql and "EXISTS" in sql
                          for sql in counts)


def _two_datasets_analyzed(big: int, small: int, chains: int) -> None:
    """Datasets "big" and "small" of that many questions, their runs finished, the planner's statistics fresh."""
    for slug, n in (("big", big), ("small", small)):
        dataset = make_dataset(slug)
        for i in range(n):
            make_question(dataset, i, chains=chains)
    GenerationRun.objects.update(status="succeeded")  # a queued run would keep the dataset
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


@pytest.mark.postgres
def test_a_large_deletion_preview_estimates_from_the_datasets_own_share_of_the_rows(users, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The estimate of `dataset_id IN (SELECT id FROM dataset WHERE slug = …)` knows no dataset: PostgreSQL took the
    average share of a dataset, so one of two datasets with 300,000 of 500,000 questions... read "about 250,000";
    at 500k questions the preview said "about 382,500". The roots' ids, known before, make it read the statistics."""
    from webapp.core import paging

    monkeypatch.setattr(paging, "EXACT_COUNT_UP_TO", 5)
    _two_datasets_analyzed(90, 10, chains=0)
    page = client_for(users["admin"]).get("/datasets/big/delete/").content.decode()
    for table in ("questions", "clips"):
        assert f"<td>{table}</td>" in page, page[page.find("<table"):page.find("</table>")]
        shown = page.split(f"<td>{table}</td><td class=\"num\">about ", 1)[1].split("<", 1)[0]
        assert 80 <= int(shown.replace(",", "")) <= 100, (table, shown)


def test_a_question_of_another_dataset_on_one_of_its_clips_keeps_a_dataset(users) -> None:  # type: ignore[no-untyped-def]
    kept, other = make_dataset("kept"), make_dataset("other")
    shared = make_question(kept, 1, chains=0).clip
    make_question(kept, 2, chains=0)
    borrower = make_question(other, 3, chains=0, clip=shared)
    assert Cascade(Dataset.objects.filter(slug="kept")).refused_by() == [borrower]
    borrower.delete()
    assert Cascade(Dataset.objects.filter(slug="kept")).refused_by() == []
    assert Cascade(Dataset.objects.filter(slug="other")).refused_by() == []


def test_the_refusal_check_finds_the_borrowers_whichever_way_the_dataset_is_named(users) -> None:  # type: ignore[no-untyped-def]
    """As the dataset delete page names it (its questions and itself) or by itself alone: the rows of the dataset
    are filtered out on the row and the rest looked up one by one (Cascade._pointing); both must find the same."""
    kept, other = make_dataset("kept"), make_dataset("other")
    clips = [make_question(kept, i, chains=0).clip for i in range(3)]
    borrowers = {make_question(other, 10 + i, chains=0, clip=clip).pk for i, clip in enumerate(clips)}
    make_question(other, 20, chains=0)  # on a clip of its own: keeps nothing
    for roots in ([Question.objects.filter(dataset=kept), Dataset.objects.filter(pk=kept.pk)],
                  [Dataset.objects.filter(pk=kept.pk)]):
        assert {q.pk for q in Cascade(*roots).refused_by()} == borrowers
        found = Cascade(*roots).refused_by(limit=2)
        assert len(found) == 2 and {q.pk for q in found} <= borrowers
    assert Cascade(Question.objects.filter(dataset=other), Dataset.objects.filter(pk=other.pk)).refused_by() == []


@pytest.mark.postgres
def test_a_small_datasets_deletion_preview_estimates_its_own_share_and_its_chains(users, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The questions went in twice, as roots and as the dataset's cascade: `pk IN (SELECT … dataset_id = …) OR
    dataset_id = …` was estimated at half the table (a hashed subquery's default share), so at 500k questions the
    preview of a 10,000-question study read "about 260,321" questions and "about 3,060,000" chains (80,000)."""
    from webapp.core import paging

    monkeypatch.setattr(paging, "EXACT_COUNT_UP_TO", 5)
    _two_datasets_analyzed(180, 20, chains=2)
    page = client_for(users["admin"]).get("/datasets/small/delete/").content.decode()
    for table, real in (("questions", 20), ("chains", 40)):
        assert f"<td>{table}</td>" in page, page[page.find("<table"):page.find("</table>")]
        shown = page.split(f"<td>{table}</td><td class=\"num\">", 1)[1].split("<", 1)[0].removeprefix("about ")
        assert real / 2 <= int(shown.replace(",", "")) <= real * 2, (table, shown)
