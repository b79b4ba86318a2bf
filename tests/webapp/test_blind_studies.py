"""A blind agreement study (review overlap) stays blind outside the item page too: a curator learns nothing of other
curators' decisions on questions still open from the dashboard or the queue, agreement figures count only settled
questions, and curators see no per-curator breakdown of a study under way (admins see everything)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.webapp.conftest import client_for
from tests.webapp.review_factories import make_dataset, make_question
from webapp.catalog.models import Dataset, Question
from webapp.curation import review
from webapp.curation.models import Chain
from webapp.curation.review import dashboards

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(users, curators) -> dict[str, User]:  # type: ignore[no-untyped-def]
    return {**curators, "alice": users["admin"], "eve": users["nobody"]}


def _chains(question: Question) -> list[Chain]:
    return list(question.chains.order_by("sample_index"))


def _decide(user: User, question: Question, actions: list[str]) -> None:
    for chain, action in zip(_chains(question), actions, strict=False):
        review.decide(user, chain.pk, 0, action, reason="other" if action == "reject" else "", note="n")


@pytest.fixture
def study(people) -> tuple[Dataset, Question, Question]:  # type: ignore[no-untyped-def]
    """Overlap 2. Carol decided all of q1 (accept, reject, accept); Bob the first two (accept, accept): chain 1 is
    accepted, chain 2 flagged, chain 3 still waits for Bob, so q1 is open. q2 is untouched."""
    dataset = make_dataset("study")
    dataset.review_overlap = 2
    dataset.save(update_fields=["review_overlap"])
    q1, q2 = make_question(dataset, 1, chains=3), make_question(dataset, 2, chains=2)
    _decide(people["carol"], q1, ["accept", "reject", "accept"])
    _decide(people["bob"], q1, ["accept", "accept"])
    assert [c.decision for c in _chains(q1)] == ["accepted", "flagged", "pending"]
    return dataset, q1, q2


def test_agreement_counts_only_questions_whose_overlap_slots_are_all_complete(people, study) -> None:  # type: ignore[no-untyped-def]
    between = dashboards.curator_agreement()
    assert (between.items, between.pairs, between.fleiss) == (0, [], None)
    assert dashboards.validator_agreement() == []  # chain 1's consensus is not final while q1 is open

    review.decide(people["bob"], _chains(study[1])[2].pk, 0, "reject", reason="other", note="n")  # q1 settles
    between = dashboards.curator_agreement()
    assert between.items == 3 and [(p.a, p.b, p.n) for p in between.pairs] == [("bob", "carol", 3)]
    assert sum(a.n for a in dashboards.validator_agreement()) == 1  # chain 1, accepted by both


def test_a_curators_dashboard_shows_nothing_of_others_decisions_on_open_questions(people, study) -> None:  # type: ignore[no-untyped-def]
    page = client_for(people["bob"]).get("/review/dashboard/")
    (row,) = page.context["by_dataset"]
    assert (row["accepted"], row["flagged"], row["pending"], row["reviewed"]) == (0, 0, 5, 0)
    assert [r["curator"] for r in page.context["by_curator"]] == ["bob"]
    assert sum(d["total"] for d in page.context["by_day"]) == 2  # bob's own two
    assert "carol" not in page.content.decode()

    admin = client_for(people["alice"]).get("/review/dashboard/")
    (row,) = admin.context["by_dataset"]
    assert (row["accepted"], row["flagged"], row["pending"]) == (1, 1, 3)
    assert sorted(r["curator"] for r in admin.context["by_curator"]) == ["bob", "carol"]


def test_curators_see_no_per_curator_agreement_of_a_study_under_way_admins_do(people, study) -> None:  # type: ignore[no-untyped-def]
    review.decide(people["bob"], _chains(study[1])[2].pk, 0, "reject", reason="other", note="n")  # q1 settles
    bob = client_for(people["bob"]).get("/review/dashboard/")
    assert bob.context["between"].items == 3 and bob.context["between"].pairs == []  # q2 is still open
    assert "bob · carol" not in bob.content.decode()
    admin = client_for(people["alice"]).get("/review/dashboard/")
    assert [(p.a, p.b) for p in admin.context["between"].pairs] == [("bob", "carol")]

    _decide(people["bob"], study[2], ["accept", "accept"])
    _decide(people["carol"], study[2], ["accept", "reject"])  # the study is over: everyone may see it
    bob = client_for(people["bob"]).get("/review/dashboard/")
    assert [(p.a, p.b, p.n) for p in bob.context["between"].pairs] == [("bob", "carol", 5)]


def _curator_choices(client: Client, query: str = "") -> list[str]:
    form = client.get(f"/review/?{query}").context["form"]
    return [user.username for user in form.fields["curator"].queryset]


def test_the_curator_filter_lists_only_people_who_decided_there(people, study) -> None:  # type: ignore[no-untyped-def]
    single = make_dataset("single")
    question = make_question(single, 7, chains=2)
    _decide(people["dave"], question, ["accept", "reject"])
    admin = client_for(people["alice"])
    assert _curator_choices(admin) == ["bob", "carol", "dave"]  # not eve, nor alice: no decision anywhere
    assert _curator_choices(admin, "dataset=single") == ["dave"]
    assert _curator_choices(admin, "dataset=study") == ["bob", "carol"]
    page = admin.get("/review/?dataset=single").content.decode()  # the select as shown: its choices built lazily
    assert '<option value="dave">dave</option>' in page and '<option value="bob">' not in page


def test_a_curator_in_a_blind_study_cannot_filter_by_another_curator(people, study) -> None:  # type: ignore[no-untyped-def]
    bob = client_for(people["bob"])
    assert _curator_choices(bob, "dataset=study") == ["bob"]
    assert "carol" not in _curator_choices(bob)
    assert bob.get("/review/?dataset=study&decision=any&curator=carol").status_code == 400


def test_a_curators_queue_does_not_show_the_consensus_of_an_open_question(people, study) -> None:  # type: ignore[no-untyped-def]
    bob = client_for(people["bob"])
    shown = bob.get("/review/?dataset=study&decision=any").context["page"].object_list
    assert all(chain.decision == "pending" for chain in shown)
    assert bob.get("/review/?dataset=study&decision=flagged").context["page"].paginator.count == 0
    admin = client_for(people["alice"])
    assert admin.get("/review/?dataset=study&decision=flagged").context["page"].paginator.count == 1
