"""Adjudication of agreement-study ties: the admins' queue of flagged chains, the ruling as a history row of its own
kind that the chain's decision, text and exports follow, stale rulings refused, and the dashboards counting it apart."""

from __future__ import annotations

import doctest
import threading

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from tests.webapp.conftest import client_for
from tests.webapp.review_factories import make_question, make_study, make_tie
from webapp.catalog.models import Question
from webapp.curation import review
from webapp.curation.models import Chain, Review
from webapp.curation.review import dashboards, diffs
from webapp.curation.review.adjudication import rule
from webapp.curation.review.errors import Ruled, StaleWrite
from webapp.training.models import DatasetSnapshot

pytestmark = pytest.mark.django_db

RULED_EDIT = "<think>An engine revs at 2 s; no horn.</think><answer>B</answer>"


def _tie(curators: dict[str, User], slug: str = "study") -> tuple[Question, Chain, Chain]:
    """bob and carol in an overlap-2 study: bob edits chain 1, carol rejects it (flagged); both accept chain 2."""
    tied, agreed = make_tie(make_study(slug), 1, curators["bob"], curators["carol"])
    assert (tied.decision, agreed.decision) == ("flagged", "accepted")
    return tied.question, tied, agreed


def _rule(client: Client, chain: Chain, action: str, version: int | None = None, **data: str):  # type: ignore[no-untyped-def]
    return client.post(f"/review/adjudication/{chain.pk}/", {
        "action": action, "version": chain.version if version is None else version, "note": "listened twice",
        **data})


def test_it_lists_a_tie_for_admins_with_each_curators_decision_reason_and_edit(users, curators) -> None:  # type: ignore[no-untyped-def]
    question, tied, agreed = _tie(curators)
    admin = client_for(users["admin"])
    listing = admin.get("/review/adjudication/")
    assert listing.status_code == 200
    assert [chain.pk for chain, _, _ in listing.context["rows"]] == [tied.pk]  # the agreed chain is not there
    html = listing.content.decode()
    assert "<b>bob</b>: <span class=\"decision accepted\">edit</span>" in html
    assert "hallucinated-sound" in html and "&lt;b&gt;no&lt;/b&gt;" in html  # carol's note, escaped

    page = admin.get(f"/review/adjudication/{tied.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="player"' in html and 'id="wave"' in html  # the review page's player partial
    assert '<mark class="claim supported"' in html and "lalm: pass" in html  # claims with their verdicts
    sides = [(s.standing.curator, s.standing.review.action) for s in page.context["sides"]]
    assert sides == [("bob", "edit"), ("carol", "reject")]
    assert "<del>chain</del><ins>then</ins> <del>0.</del><ins>a horn.</ins>" in html  # bob's edit as a diff
    assert "there is &lt;b&gt;no&lt;/b&gt; horn" in html and "<b>no</b>" not in html
    assert 'name="csrfmiddlewaretoken"' in html and 'id="ruling-form"' in html


def test_it_refuses_curators_the_queue_the_page_and_the_ruling(users, curators) -> None:  # type: ignore[no-untyped-def]
    _, tied, _ = _tie(curators)
    bob = client_for(curators["bob"])
    assert bob.get("/review/adjudication/").status_code == 403
    assert bob.get(f"/review/adjudication/{tied.pk}/").status_code == 403
    assert _rule(bob, tied, "accept").status_code == 403
    assert not Review.objects.filter(action="adjudicate").exists()
    nav = bob.get("/review/").content.decode()
    assert "/review/adjudication/" not in nav  # no navigation entry for curators
    assert "/review/adjudication/" in client_for(users["admin"]).get("/review/").content.decode()


def test_it_refuses_a_ruling_without_the_csrf_token(users, curators) -> None:  # type: ignore[no-untyped-def]
    _, tied, _ = _tie(curators)
    admin = Client(enforce_csrf_checks=True)
    admin.force_login(users["admin"])
    assert _rule(admin, tied, "accept").status_code == 403
    tied.refresh_from_db()
    assert tied.decision == "flagged"


def test_a_ruling_is_a_history_row_of_its_own_kind_and_the_chain_follows_its_edit(users, curators) -> None:  # type: ignore[no-untyped-def]
    _, tied, _ = _tie(curators)
    admin = client_for(users["admin"])
    response = _rule(admin, tied, "edit", text=RULED_EDIT)
    assert response.status_code == 302 and response["Location"] == "/review/adjudication/"  # none left: the queue
    tied.refresh_from_db()
    assert tied.decision == "accepted" and tied.version == 3
    ruling = tied.reviews.get(action="adjudicate")
    assert (ruling.curator.username, ruling.from_decision, ruling.to_decision) == ("alice", "flagged", "accepted")
    assert ruling.note == "listened twice" and ruling.edited_text == RULED_EDIT
    assert review.chain_state(tied).text == RULED_EDIT and ruling.revision.is_correct is True
    assert admin.get("/review/adjudication/").context["rows"] == []  # it has left the queue
    page = admin.get(f"/review/adjudication/{tied.pk}/").content.decode()
    assert 'id="ruling-form"' not in page and "it is accepted" in page


def test_a_ruling_that_accepts_the_teachers_text_sets_aside_a_curators_edit(users, curators) -> None:  # type: ignore[no-untyped-def]
    _, tied, _ = _tie(curators)
    assert _rule(client_for(users["admin"]), tied, "accept").status_code == 302
    tied.refresh_from_db()
    assert tied.decision == "accepted" and review.chain_state(tied).text == tied.text


def test_a_rejecting_ruling_needs_a_reason_and_every_ruling_a_note(users, curators) -> None:  # type: ignore[no-untyped-def]
    _, tied, _ = _tie(curators)
    admin = client_for(users["admin"])
    assert _rule(admin, tied, "reject").status_code == 400
    assert _rule(admin, tied, "accept", note="").status_code == 400
    assert _rule(admin, tied, "edit", text="no answer tag").status_code == 400
    assert _rule(admin, tied, "reject", reason="hallucinated-sound").status_code == 302
    tied.refresh_from_db()
    assert tied.decision == "rejected" and tied.reviews.get(action="adjudicate").reason == "hallucinated-sound"


def test_two_admins_ruling_at_once_one_wins_and_the_other_is_told(users, curators) -> None:  # type: ignore[no-untyped-def]
    _, tied, _ = _tie(curators)
    other = User.objects.create_user("olga", password="pw-olga")
    other.groups.add(users["admin"].groups.get())
    first, second = client_for(users["admin"]), client_for(other)
    seen = tied.version  # both opened the page at this version
    assert _rule(first, tied, "reject", version=seen, reason="hallucinated-sound").status_code == 302
    late = _rule(second, tied, "accept", version=seen)
    assert late.status_code == 409
    assert "changed by alice (adjudicate → rejected)" in late.content.decode()
    assert "your ruling was not saved" in late.content.decode()
    tied.refresh_from_db()
    assert tied.decision == "rejected" and tied.reviews.filter(action="adjudicate").count() == 1


def test_curators_cannot_reopen_a_ruled_chain(users, curators) -> None:  # type: ignore[no-untyped-def]
    _, tied, _ = _tie(curators)
    rule(users["admin"], tied.pk, tied.version, "accept", note="clear engine")
    with pytest.raises(Ruled):
        review.undo(curators["carol"], tied.pk, 1)  # replaying her stream would overturn the ruling
    tied.refresh_from_db()
    assert tied.decision == "accepted"
    assert not review.undoable(curators["carol"], tied, 2)


def test_it_does_not_rule_on_a_chain_that_is_not_a_settled_tie(users, curators) -> None:  # type: ignore[no-untyped-def]
    question, tied, agreed = _tie(curators)
    admin = client_for(users["admin"])
    assert _rule(admin, agreed, "reject", reason="other").status_code == 400
    open_question = make_question(question.dataset, 2, chains=2)  # bob and carol tie on chain 1, chain 2 waits
    first, _ = open_question.chains.order_by("sample_index")
    review.decide(curators["bob"], first.pk, 0, "accept")
    review.decide(curators["carol"], first.pk, 0, "reject", reason="other", note="n")
    first.refresh_from_db()
    assert first.decision == "flagged"
    refused = _rule(admin, first, "accept")
    assert refused.status_code == 400 and "still open" in refused.content.decode()
    assert [c.pk for c, _, _ in admin.get("/review/adjudication/").context["rows"]] == [tied.pk]


def test_the_dashboards_count_adjudicated_chains_apart(users, curators) -> None:  # type: ignore[no-untyped-def]
    _, tied, _ = _tie(curators)
    before = dashboards.curator_agreement(users["admin"])
    rule(users["admin"], tied.pk, tied.version, "accept", note="clear engine")
    assert dashboards.curator_labels_per_chain()[tied.pk] == {"bob": "accepted", "carol": "rejected"}  # no alice
    after = dashboards.curator_agreement(users["admin"])
    assert (after.items, after.fleiss, after.pairs) == (before.items, before.fleiss, before.pairs)
    assert (before.adjudicated, after.adjudicated) == (0, 1)
    (validator,) = dashboards.validator_agreement()
    assert validator.adjudicated == 1 and validator.n == 1  # only the chain both curators accepted
    html = client_for(users["admin"]).get("/review/dashboard/").content.decode()
    assert '<p id="adjudicated-count">adjudicated: 1 ' in html and "adjudicated: 1 <span>" in html
    assert "<td>alice</td><td>1</td>" + "<td>0</td>" * 5 + "<td>1</td>" in html  # the ruling in its own column


@pytest.mark.django_db(transaction=True)
def test_a_snapshot_freezes_the_adjudicated_decision_and_text(users, curators, run_worker) -> None:  # type: ignore[no-untyped-def]
    question, tied, agreed = _tie(curators)
    other = make_question(question.dataset, 2, chains=1)  # a second tie, ruled a rejection
    (lone,) = other.chains.all()
    review.decide(curators["bob"], lone.pk, 0, "accept")
    review.decide(curators["carol"], lone.pk, 0, "reject", reason="other", note="n")
    rule(users["admin"], tied.pk, tied.version, "edit", note="fixed", edited_text=RULED_EDIT)
    lone.refresh_from_db()
    rule(users["admin"], lone.pk, lone.version, "reject", note="no", reason="visual-only")
    response = client_for(users["admin"]).post("/snapshots/new/", {"dataset": question.dataset.pk})
    assert response.status_code == 302
    run_worker("default")
    snapshot = DatasetSnapshot.objects.latest("pk")
    assert snapshot.status == "succeeded", snapshot.error
    assert {i.chain_id: i.text for i in snapshot.items.all()} == {tied.pk: RULED_EDIT, agreed.pk: agreed.text}
    assert snapshot.provenance["curation"]["chains_adjudicated"] == 1  # of the chains frozen


def test_it_documents_the_word_diff_in_doctests() -> None:
    assert doctest.testmod(diffs).failed == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_admins_ruling_in_the_same_instant_on_postgresql_one_wins(users, curators) -> None:  # type: ignore[no-untyped-def]
    """The row lock, not the order of the requests, decides: both rulings start together from the same version."""
    assert connection.vendor == "postgresql", "this test proves a PostgreSQL race: run it with DATABASE_URL=postgres"
    _, tied, _ = _tie(curators)
    other = User.objects.create_user("olga", password="pw-olga")
    other.groups.add(users["admin"].groups.get())
    barrier, outcomes = threading.Barrier(2), {}

    def ruling(admin: User, action: str) -> None:
        barrier.wait()
        try:
            rule(admin, tied.pk, tied.version, action, note="at once", reason="other")
            outcomes[admin.username] = "won"
        except StaleWrite as exc:
            outcomes[admin.username] = exc.message
        finally:
            connection.close()

    threads = [threading.Thread(target=ruling, args=a) for a in ((users["admin"], "accept"), (other, "reject"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes.values(), key=len)[0] == "won" and len(outcomes) == 2
    loser = next(name for name, outcome in outcomes.items() if outcome != "won")
    assert "your ruling was not saved" in outcomes[loser]
    assert Review.objects.filter(chain=tied, action="adjudicate").count() == 1


def test_the_queue_page_costs_the_same_queries_at_one_tie_or_five(users, curators,
                                                                 django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    study = make_study()
    make_tie(study, 1, curators["bob"], curators["carol"])
    admin = client_for(users["admin"])
    admin.get("/review/adjudication/")  # the session and the user's groups read once
    with CaptureQueriesContext(connection) as one:
        assert len(admin.get("/review/adjudication/").context["rows"]) == 1
    for n in range(2, 6):
        make_tie(study, n, curators["bob"], curators["carol"])
    with django_assert_num_queries(len(one)):
        rows = admin.get("/review/adjudication/").context["rows"]
    assert [card for _, card, _ in rows] == [1] * 5 and all(len(sides) == 2 for _, _, sides in rows)
