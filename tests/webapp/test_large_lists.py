"""Lists over millions of rows answer without counting every row: estimated or bounded counts, said as such."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.webapp.conftest import client_for
from tests.webapp.review_factories import make_dataset, make_question
from webapp.core import paging

pytestmark = pytest.mark.django_db


def _analyze() -> None:
    if connection.vendor == "postgresql":  # as autovacuum would: the planner's statistics of the new rows
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def _full_counts(queries: list[dict]) -> list[str]:
    """The COUNT queries that read every row they match (none bounded by a LIMIT)."""
    return [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "LIMIT" not in q["sql"].upper()]


@pytest.mark.parametrize("model", ["catalog/question", "catalog/clip", "curation/chain", "curation/verdict"])
def test_it_estimates_a_large_admin_change_list_and_says_about(model, monkeypatch) -> None:
    monkeypatch.setattr(paging, "EXACT_COUNT_UP_TO", 5)
    dataset = make_dataset()
    for n in range(8):
        make_question(dataset, n, chains=2)
    _analyze()
    admin = User.objects.create_superuser("root", password="pw-root")
    with CaptureQueriesContext(connection) as ctx:
        response = client_for(admin).get(f"/admin/{model}/")
    assert response.status_code == 200
    table = model.replace("/", "_")
    # newest first along the primary key, and no filter listing its values by a DISTINCT over the whole table
    assert any(f'ORDER BY "{table}"."id" DESC' in q["sql"] for q in ctx.captured_queries)
    assert not [q["sql"] for q in ctx.captured_queries if q["sql"].startswith("SELECT DISTINCT")]
    body = response.content.decode()
    if connection.vendor == "postgresql":
        assert "about " in body  # the planner's estimate, said as one
        assert _full_counts(ctx.captured_queries) == []
    else:  # SQLite has no estimate: small deployments count exactly
        assert "about " not in body


def test_it_counts_a_small_admin_change_list_exactly() -> None:
    dataset = make_dataset()
    for n in range(3):
        make_question(dataset, n, chains=1)
    _analyze()
    admin = User.objects.create_superuser("root", password="pw-root")
    body = client_for(admin).get("/admin/catalog/question/").content.decode()
    assert "3 questions" in body and "about 3" not in body


def test_it_counts_exactly_when_the_estimate_is_low_but_the_rows_are_few(monkeypatch) -> None:
    monkeypatch.setattr(paging, "EXACT_COUNT_UP_TO", 5)
    dataset = make_dataset()
    for n in range(4):
        make_question(dataset, n, chains=1)
    from webapp.catalog.models import Question

    paginator = paging.EstimatedCountPaginator(Question.objects.order_by("id"), 2)
    assert (paginator.count, paginator.estimated) == (4, False)


def _offset_queries(queries: list[dict]) -> list[str]:
    return [q["sql"] for q in queries if "OFFSET" in q["sql"].upper()]


def test_it_slices_the_question_list_by_ids_before_joining_the_clips(users) -> None:
    dataset = make_dataset()
    for n in range(55):
        make_question(dataset, n, chains=0)
    with CaptureQueriesContext(connection) as ctx:
        response = client_for(users["curator"]).get(f"/datasets/{dataset.slug}/?page=2")
    assert response.status_code == 200
    assert [q.external_id for q in response.context["page"]] == [str(n) for n in range(50, 55)]
    assert "Page 2 of 2" in response.content.decode()
    skipping = _offset_queries(ctx.captured_queries)
    assert skipping and all("JOIN" not in sql.upper() for sql in skipping)  # the skipped rows are never joined


def test_it_estimates_a_large_review_queue_and_slices_it_by_ids(users, monkeypatch) -> None:
    monkeypatch.setattr(paging, "EXACT_COUNT_UP_TO", 5)
    dataset = make_dataset()
    for n in range(30):
        make_question(dataset, n, chains=2)
    _analyze()
    with CaptureQueriesContext(connection) as ctx:
        response = client_for(users["curator"]).get("/review/?page=2")
    assert response.status_code == 200
    page = response.context["page"]
    assert [c.question.external_id for c in page][:2] == ["25", "25"]  # ordered by question: 50 chains, then these
    skipping = _offset_queries(ctx.captured_queries)
    assert skipping and all(sql.startswith('SELECT "curation_chain"."id" AS "pk" FROM') for sql in skipping)  # ids
    if connection.vendor == "postgresql":
        assert page.paginator.estimated and "About <strong" in response.content.decode()
        assert _full_counts(ctx.captured_queries) == []
    else:
        assert page.paginator.count == 60 and "About" not in response.content.decode()


def test_it_counts_a_runs_chains_without_joining_them(users) -> None:
    from webapp.curation.models import GenerationRun

    dataset = make_dataset()
    for n in range(3):
        make_question(dataset, n, chains=2)
    run = GenerationRun.objects.get()
    GenerationRun.objects.update(status="succeeded", kind="teacher")
    with CaptureQueriesContext(connection) as ctx:
        response = client_for(users["admin"]).get(f"/runs/{run.pk}/")
    assert response.status_code == 200 and response.context["selection"].chains == 6
    counts = [q["sql"] for q in ctx.captured_queries if 'FROM "curation_chain"' in q["sql"] and "COUNT(" in q["sql"]]
    assert counts and all("JOIN" not in sql for sql in counts)  # each of the run's chains read once, alone


def test_the_bulk_confirmation_estimates_a_large_set_and_an_estimate_confirms_it(users, monkeypatch) -> None:
    from webapp.curation.models import BulkAction

    monkeypatch.setattr(paging, "EXACT_COUNT_UP_TO", 5)
    dataset = make_dataset()
    for n in range(10):
        make_question(dataset, n, chains=2)
    _analyze()
    client = client_for(users["admin"])
    query = {"action": "accept", "queue": "decision=any"}
    with CaptureQueriesContext(connection) as ctx:
        confirm = client.get("/review/bulk/", query)
    assert confirm.status_code == 200
    if connection.vendor != "postgresql":  # SQLite: exact, as small deployments always were
        assert confirm.context["count"] == 20 and "about" not in confirm.content.decode()
        return
    shown = confirm.context["shown"]
    assert shown.estimated and f"Accept about {shown.n} chains?" in confirm.content.decode()
    assert _full_counts(ctx.captured_queries) == []
    client.post("/review/bulk/", {**query, "confirm": shown.n})
    assert BulkAction.objects.get().expected_count == 20  # the action records the exact number it confirmed


def test_the_bulk_confirmation_counts_a_small_set_exactly_and_asks_again_when_it_changed(users) -> None:
    from webapp.curation.models import BulkAction

    dataset = make_dataset()
    for n in range(3):
        make_question(dataset, n, chains=2)
    _analyze()
    client = client_for(users["admin"])
    query = {"action": "accept", "queue": "decision=any"}
    confirm = client.get("/review/bulk/", query)
    assert confirm.context["count"] == 6 and "Accept 6 chains?" in confirm.content.decode()
    assert client.post("/review/bulk/", {**query, "confirm": 7}).status_code == 409
    client.post("/review/bulk/", {**query, "confirm": 6})
    assert BulkAction.objects.get().expected_count == 6


def _full_counts_of(table: str, queries: list[dict]) -> list[str]:
    return [sql for sql in _full_counts(queries) if f'FROM "{table}"' in sql]


def _judged_run(questions: int, dropped: int | None = None) -> tuple:
    """A succeeded teacher run of 2 chains a question (sample `dropped` dropped as a wrong answer), and the
    validation run whose verdicts (pass, fail) judge them."""
    from webapp.curation.models import Chain, GenerationRun, Verdict

    dataset = make_dataset()
    for n in range(questions):
        make_question(dataset, n, chains=2)
    teacher = GenerationRun.objects.get()
    GenerationRun.objects.update(status="succeeded", kind="teacher")
    if dropped is not None:
        Chain.objects.filter(sample_index=dropped).update(kept=False, drop_reason="wrong_answer")
    validation = GenerationRun.objects.create(dataset=dataset, kind="validation", source_run=teacher,
                                              status="succeeded", config={"validators": "lalm"})
    Verdict.objects.update(run=validation)
    _analyze()
    return teacher, validation


def test_a_large_runs_page_estimates_its_counts_per_drop_reason_and_label(users, monkeypatch) -> None:
    monkeypatch.setattr(paging, "EXACT_COUNT_UP_TO", 5)
    teacher, validation = _judged_run(10)
    client = client_for(users["admin"])
    with CaptureQueriesContext(connection) as ctx:
        run_page = client.get(f"/runs/{teacher.pk}/").content.decode()
        validation_page = client.get(f"/runs/{validation.pk}/").content.decode()
    if connection.vendor != "postgresql":  # exact, as small deployments always were
        assert "20 of 20 kept" in run_page and "10 pass, 10 fail" in validation_page
        return
    assert "about " in run_page.split('id="selection-summary"')[1].split("</p>")[0]  # 20 kept: above 5
    assert "about " in validation_page.split('id="verdict-counts"')[1].split("</p>")[0]
    assert _full_counts_of("curation_chain", ctx.captured_queries) == []
    assert _full_counts_of("curation_verdict", ctx.captured_queries) == []


def test_a_small_runs_page_counts_exactly(users) -> None:
    teacher, validation = _judged_run(3, dropped=1)
    client = client_for(users["admin"])
    run_page = client.get(f"/runs/{teacher.pk}/")
    assert "3 of 6 kept: 3 wrong answers" in run_page.content.decode()
    assert dict(run_page.context["selection"].dropped)["wrong_answer"] == 3
    assert "3 pass, 3 fail" in client.get(f"/runs/{validation.pk}/").content.decode()


def test_a_verified_count_never_says_about_for_a_few_rows_the_planner_guessed_many(monkeypatch) -> None:
    """A deletion's nested subqueries made PostgreSQL guess 27,000 shared chains where there were none."""
    from webapp.catalog.models import Question

    monkeypatch.setattr(paging, "EXACT_COUNT_UP_TO", 5)
    guess = 5 * paging.VERIFY_UP_TO  # the planner's, far too high (a larger one is not checked: too costly)
    monkeypatch.setattr(paging, "planner_rows", lambda qs: guess)
    dataset = make_dataset()
    for n in range(3):
        make_question(dataset, n, chains=0)
    questions = Question.objects.filter(dataset=dataset)
    assert paging.count_or_estimate(questions, verify=True) == paging.Tally(3)
    assert paging.count_or_estimate(questions) == paging.Tally(guess, estimated=True)  # lists keep the guess
