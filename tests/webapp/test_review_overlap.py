"""Review overlap for agreement studies: N different curators per question, blind per-curator streams, the
consensus on the chain, and the inter-curator agreement those streams feed."""

from __future__ import annotations

import doctest
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from tests.webapp.conftest import client_for
from tests.webapp.review_factories import make_dataset, make_question
from webapp.catalog.models import Dataset
from webapp.curation import review
from webapp.curation.models import BulkAction, Chain, Lease, Review

pytestmark = pytest.mark.django_db


def _study(overlap: int = 2) -> Dataset:
    dataset = make_dataset()
    dataset.review_overlap = overlap
    dataset.save(update_fields=["review_overlap"])
    return dataset


def _chains(question) -> list[Chain]:  # type: ignore[no-untyped-def]
    return list(question.chains.order_by("sample_index"))


def _decide_all(user: User, question, actions: list[str]) -> None:  # type: ignore[no-untyped-def]
    for chain, action in zip(_chains(question), actions, strict=True):
        review.decide(user, chain.pk, 0, action, reason="other" if action == "reject" else "")


def test_it_serves_an_overlap_question_to_two_curators_not_a_third_and_shows_their_kappa(curators) -> None:  # type: ignore[no-untyped-def]
    study = _study(2)
    q1, q2 = make_question(study, 1, chains=4), make_question(study, 2, chains=2)
    clients = {name: client_for(user) for name, user in curators.items()}
    served = {name: clients[name].get("/review/next/")["Location"] for name in ("bob", "carol", "dave")}
    assert served == {"bob": f"/review/q/{q1.pk}/", "carol": f"/review/q/{q1.pk}/", "dave": f"/review/q/{q2.pk}/"}
    assert sorted(Lease.objects.filter(question=q1).values_list("slot", "curator__username")) == [
        (0, "bob"), (1, "carol")]

    page = clients["dave"].get(f"/review/q/{q1.pk}/")  # both slots are held: dave may look, not decide
    assert b'id="lease-banner"' in page.content and b"you can look, not decide" in page.content
    refused = clients["dave"].post(f"/review/chains/{_chains(q1)[0].pk}/decide/",
                                   {"version": 0, "action": "accept", "queue": ""})
    assert refused.status_code == 409 and b"already has its 2 curators" in refused.content

    plans = {"bob": ["accept", "accept", "reject", "reject"], "carol": ["accept", "accept", "reject", "accept"]}
    for name, actions in plans.items():
        for chain, action in zip(_chains(q1), actions, strict=True):
            response = clients[name].post(f"/review/chains/{chain.pk}/decide/", {
                "version": 0, "action": action, "reason": "visual-only" if action == "reject" else "", "queue": ""})
            assert response.status_code == 302
        assert response["Location"] == f"/review/next/?after={q1.pk}"  # done with their stream: auto-advance
    assert [c.decision for c in _chains(q1)] == ["accepted", "accepted", "rejected", "flagged"]  # 1–1 is a tie
    assert clients["frank"].get("/review/next/")["Location"] == f"/review/q/{q2.pk}/"  # q1 has left the queue

    mine = clients["bob"].get("/review/dashboard/").context["between"]  # q2 is open: the study is under way
    assert (mine.items, mine.fleiss, mine.pairs) == (4, 0.4667, [])  # a curator sees no per-curator breakdown
    dashboard = client_for(User.objects.get(username="alice")).get("/review/dashboard/")  # an admin sees them
    between = dashboard.context["between"]
    assert between.items == 4 and [(p.a, p.b, p.n, p.kappa) for p in between.pairs] == [("bob", "carol", 4, 0.5)]
    assert between.fleiss == 0.4667
    html = dashboard.content.decode()
    assert '<td>bob · carol</td><td>4</td><td>0.500</td>' in html
    assert '<b class="kappa" id="fleiss-kappa">0.467</b>' in html


def test_it_keeps_each_curators_decisions_blind_until_every_curator_has_decided(curators) -> None:  # type: ignore[no-untyped-def]
    question = make_question(_study(2), 1, chains=2)
    bob, carol = client_for(curators["bob"]), client_for(curators["carol"])
    first, second = _chains(question)
    assert bob.get(f"/review/q/{question.pk}/").status_code == 200
    bob.post(f"/review/chains/{first.pk}/decide/", {"version": 0, "action": "edit", "queue": "",
                                                     "text": "<think>A bell rings.</think><answer>C</answer>"})
    first.refresh_from_db()
    assert (first.decision, first.version) == ("pending", 1)  # one curator of two: still in the queue

    page = carol.get(f"/review/q/{question.pk}/")
    chains = {ic.chain.pk: ic for ic in page.context["chains"]}
    assert page.context["blind"] and chains[first.pk].decision == "pending" and chains[first.pk].version == 0
    assert chains[first.pk].state.text == first.text  # not bob's edit
    assert page.context["history"] == [] and b"A bell rings" not in page.content and b"bob" not in page.content

    own = bob.get(f"/review/q/{question.pk}/")
    mine = {ic.chain.pk: ic for ic in own.context["chains"]}
    assert (mine[first.pk].decision, mine[first.pk].version) == ("accepted", 1) and b"A bell rings" in own.content

    review.decide(curators["bob"], second.pk, 0, "accept")
    _decide_all(curators["carol"], question, ["accept", "reject"])
    done = carol.get(f"/review/q/{question.pk}/")
    assert not done.context["blind"]
    assert {r.curator.username for r in done.context["history"]} == {"bob", "carol"}
    shown = {ic.chain.pk: ic for ic in done.context["chains"]}
    assert (shown[first.pk].decision, shown[second.pk].decision) == ("accepted", "flagged")
    assert review.chain_state(Chain.objects.get(pk=first.pk)).text.endswith("<answer>C</answer>")  # exported text


def test_it_refuses_only_a_curators_own_stale_write_under_overlap(curators) -> None:  # type: ignore[no-untyped-def]
    chain = make_question(_study(2), 1, chains=1).chains.get()
    review.decide(curators["bob"], chain.pk, 0, "accept")
    review.decide(curators["carol"], chain.pk, 0, "reject", reason="other")  # bob's write is not carol's version
    with pytest.raises(review.StaleWrite, match="You changed chain #1 elsewhere"):
        review.decide(curators["bob"], chain.pk, 0, "flag")
    chain.refresh_from_db()
    assert (chain.decision, chain.version) == ("flagged", 2)
    rows = Review.objects.filter(chain=chain).order_by("chain_version")
    assert [(r.curator.username, r.chain_version, r.curator_version, r.to_decision) for r in rows] == [
        ("bob", 0, 0, "accepted"), ("carol", 1, 0, "rejected")]


def test_it_undoes_only_the_curators_own_decision_and_reopens_their_slot(curators) -> None:  # type: ignore[no-untyped-def]
    bob, carol = curators["bob"], curators["carol"]
    question = make_question(_study(2), 1, chains=1)
    chain = question.chains.get()
    review.decide(bob, chain.pk, 0, "reject", reason="other")
    review.decide(carol, chain.pk, 0, "reject", reason="other")
    chain.refresh_from_db()
    assert chain.decision == "rejected"
    assert Lease.objects.filter(question=question, completed_at__isnull=False).count() == 2

    written = review.undo(carol, chain.pk, 1)
    chain.refresh_from_db()
    assert (written.from_decision, written.to_decision, chain.decision) == ("rejected", "pending", "pending")
    assert review.standing_decisions(review.chain_state(chain).stack) == {bob.pk: "rejected"}
    assert Lease.objects.get(question=question, curator=carol).completed_at is None
    Lease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert review.claim_next(bob) is None  # bob's slot is completed: never served to him twice
    assert review.claim_next(carol) == question  # carol's is open again
    with pytest.raises(review.ReviewError, match="Nothing to undo"):
        review.undo(carol, chain.pk, 2)


def test_it_hands_an_abandoned_overlap_slot_on_but_never_a_completed_one(curators) -> None:  # type: ignore[no-untyped-def]
    question = make_question(_study(2), 1, chains=2)
    bob, carol, dave, frank = (curators[n] for n in ("bob", "carol", "dave", "frank"))
    assert review.claim_next(bob) == question
    _decide_all(bob, question, ["accept", "accept"])
    assert review.claim_next(carol) == question
    review.decide(carol, _chains(question)[0].pk, 0, "reject", reason="other")  # then carol walks away
    assert review.claim_next(dave) is None
    Lease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert review.claim_next(bob) is None
    assert review.claim_next(dave) == question  # carol's abandoned slot
    assert Lease.objects.get(question=question, slot=1).curator == dave
    _decide_all(dave, question, ["accept", "reject"])
    assert [c.decision for c in _chains(question)] == ["accepted", "flagged"]
    assert review.claim_next(frank) is None


def test_it_keeps_overlap_chains_out_of_bulk_actions(curators) -> None:  # type: ignore[no-untyped-def]
    make_question(_study(2), 1, chains=2)
    single = make_question(Dataset.objects.create(name="single", slug="single", source_format="avqa"), 2)
    bulk = BulkAction.objects.create(action="accept", expected_count=4, created_by=curators["bob"])
    assert review.bulk_apply(bulk, review.pending_chains(), curators["bob"]) == (2, 2)
    assert set(Chain.objects.filter(decision="accepted").values_list("question", flat=True)) == {single.pk}


def test_it_lets_only_admins_set_the_review_overlap(admin_client: Client, curator_client: Client) -> None:
    dataset = make_dataset()
    url = f"/datasets/{dataset.slug}/review-overlap/"
    assert b'name="review_overlap"' in admin_client.get(f"/datasets/{dataset.slug}/").content
    assert b'name="review_overlap"' not in curator_client.get(f"/datasets/{dataset.slug}/").content
    assert curator_client.post(url, {"review_overlap": 3}).status_code == 403
    for bad in ("0", "6", "two"):
        assert admin_client.post(url, {"review_overlap": bad}).status_code == 400
    response = admin_client.post(url, {"review_overlap": 3}, follow=True)
    assert response.redirect_chain[-1][0] == f"/datasets/{dataset.slug}/"
    assert b"reviewed by 3 curators" in response.content
    dataset.refresh_from_db()
    assert dataset.review_overlap == 3


def test_it_documents_the_consensus_rule_in_doctests() -> None:
    result = doctest.testmod(review.history)
    assert result.attempted >= 4 and result.failed == 0
