"""Review rules: leases, versioned decisions, undo, edits re-parsed, bulk, agreement numbers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from tests.webapp.review_factories import make_dataset, make_question
from webapp.curation import review
from webapp.curation.models import BulkAction, Chain, ChainRevision, Lease, Review
from webapp.curation.review import dashboards

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_curators(users) -> tuple[User, User]:  # type: ignore[no-untyped-def]
    other = User.objects.create_user("carol", password="pw-carol")
    other.groups.add(users["curator"].groups.first())
    return users["curator"], other


def test_it_gives_two_curators_different_questions(two_curators) -> None:  # type: ignore[no-untyped-def]
    bob, carol = two_curators
    ds = make_dataset()
    q1, q2 = make_question(ds, 1), make_question(ds, 2)
    assert review.claim_next(bob) == q1
    assert review.claim_next(carol) == q2
    assert review.claim_next(bob) == q1  # a reload resumes the question already held
    assert Lease.objects.get(question=q1).curator == bob


def test_it_returns_an_abandoned_lease_to_the_queue(two_curators, settings) -> None:  # type: ignore[no-untyped-def]
    bob, carol = two_curators
    settings.REVIEW_LEASE_SECONDS = 60
    q1 = make_question(make_dataset(), 1)
    assert review.claim_next(bob) == q1
    assert review.claim_next(carol) is None
    Lease.objects.filter(question=q1).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert review.claim_next(carol) == q1
    assert Lease.objects.get(question=q1).curator == carol


def test_it_moves_on_after_a_question_and_wraps_round(two_curators) -> None:  # type: ignore[no-untyped-def]
    bob, _ = two_curators
    ds = make_dataset()
    q1, q2 = make_question(ds, 1), make_question(ds, 2)
    assert review.claim_next(bob, after=q1.pk) == q2
    assert review.claim_next(bob, after=q2.pk) == q1
    assert not Lease.objects.get(question=q2).is_active  # moving on hands the previous one back


def test_it_refuses_a_stale_write_with_a_clear_message(two_curators) -> None:  # type: ignore[no-untyped-def]
    bob, _ = two_curators
    chain = make_question(make_dataset(), 1).chains.first()
    review.decide(bob, chain.pk, 0, "accept")
    with pytest.raises(review.StaleWrite, match="changed by bob"):
        review.decide(bob, chain.pk, 0, "reject", reason="other", note="late")
    chain.refresh_from_db()
    assert (chain.decision, chain.version) == ("accepted", 1)
    assert Review.objects.filter(chain=chain).count() == 1


def test_it_refuses_a_decision_on_a_question_someone_else_holds(two_curators) -> None:  # type: ignore[no-untyped-def]
    bob, carol = two_curators
    question = make_question(make_dataset(), 1)
    review.claim_next(bob)
    with pytest.raises(review.LeaseHeld, match="bob is reviewing"):
        review.decide(carol, question.chains.first().pk, 0, "accept")
    assert not Review.objects.exists()


def test_it_stores_an_edit_beside_the_original_and_reparses_it(two_curators) -> None:  # type: ignore[no-untyped-def]
    bob, _ = two_curators
    chain = make_question(make_dataset(), 1).chains.first()
    original = chain.text
    written = review.decide(bob, chain.pk, 0, "edit", edited_text="<think>It is a bell.</think><answer>C</answer>")
    revision = ChainRevision.objects.get(review=written)
    assert (revision.parsed_answer, revision.is_correct, revision.format_ok) == (2, False, True)
    chain.refresh_from_db()
    assert chain.text == original and chain.decision == "accepted"
    assert review.chain_state(chain).text.endswith("<answer>C</answer>")


@pytest.mark.parametrize("text", ["no answer at all", "<answer>E</answer>", "<answer>B</answer> trailing words"])
def test_it_refuses_an_edit_without_a_valid_final_answer(two_curators, text: str) -> None:  # type: ignore[no-untyped-def]
    bob, _ = two_curators
    chain = make_question(make_dataset(), 1).chains.first()
    with pytest.raises(review.InvalidEdit):
        review.decide(bob, chain.pk, 0, "edit", edited_text=text)
    assert not Review.objects.exists() and not ChainRevision.objects.exists()


def test_it_undoes_by_appending_and_restores_the_previous_state(two_curators) -> None:  # type: ignore[no-untyped-def]
    bob, _ = two_curators
    chain = make_question(make_dataset(), 1).chains.first()
    review.decide(bob, chain.pk, 0, "flag")
    review.decide(bob, chain.pk, 1, "edit", edited_text="<think>x</think><answer>B</answer>")
    review.undo(bob, chain.pk, 2)
    chain.refresh_from_db()
    assert (chain.decision, chain.version) == ("flagged", 3)
    assert review.chain_state(chain).text == chain.text  # the edit is no longer current
    review.undo(bob, chain.pk, 3)
    chain.refresh_from_db()
    assert chain.decision == "pending"
    assert list(Review.objects.filter(chain=chain).values_list("action", flat=True)) == ["flag", "edit", "undo", "undo"]
    with pytest.raises(review.ReviewError, match="Nothing to undo"):
        review.undo(bob, chain.pk, 4)


def test_it_applies_a_bulk_action_per_chain_and_skips_held_questions(two_curators) -> None:  # type: ignore[no-untyped-def]
    bob, carol = two_curators
    ds = make_dataset()
    held = make_question(ds, 1)
    make_question(ds, 2)
    review.claim_next(carol)  # carol holds question 1
    bulk = BulkAction.objects.create(action="accept", expected_count=4, created_by=bob)
    applied, skipped = review.bulk_apply(bulk, review.pending_chains(), bob)
    assert (applied, skipped) == (2, 2)
    assert set(Chain.objects.filter(question=held).values_list("decision", flat=True)) == {"pending"}
    assert Review.objects.filter(note__startswith=f"bulk #{bulk.pk}").count() == 2


def test_it_computes_cohens_kappa_per_validator_version(two_curators) -> None:  # type: ignore[no-untyped-def]
    bob, _ = two_curators
    ds = make_dataset()
    for n in range(1, 3):
        q = make_question(ds, n)
        first, second = q.chains.order_by("sample_index")  # verdicts: pass, fail
        review.decide(bob, first.pk, 0, "accept")
        review.decide(bob, second.pk, 0, "reject" if n == 1 else "accept", reason="other", note="n")
    (agreement,) = dashboards.validator_agreement()
    assert (agreement.validator, agreement.version, agreement.n, agreement.disagreements) == ("lalm", "v1", 4, 1)
    assert agreement.kappa == 0.5
    assert dashboards.cohen_kappa([[20, 5], [10, 15]]) == 0.4


def test_it_measures_agreement_between_curators_where_they_overlap(two_curators) -> None:  # type: ignore[no-untyped-def]
    bob, carol = two_curators
    ds = make_dataset()
    # Four chains decided by both (agree, agree, disagree, agree), one by bob only (not an overlap).
    plan = [("accept", "accept"), ("reject", "reject"), ("accept", "reject"), ("accept", "accept")]
    chains = [c for n in (1, 2) for c in make_question(ds, n).chains.order_by("sample_index")]
    for chain, (first, second) in zip(chains, plan, strict=True):
        for user, action in ((bob, first), (carol, second)):
            chain.refresh_from_db()
            Lease.objects.all().delete()
            review.decide(user, chain.pk, chain.version, action, reason="other", note="n")
    solo = make_question(ds, 3).chains.first()
    review.decide(bob, solo.pk, 0, "accept")
    chain = chains[3]  # carol takes hers back: bob's accept still stands, carol has no label there any more
    chain.refresh_from_db()
    review.undo(carol, chain.pk, chain.version)
    labels = dashboards.curator_labels_per_chain()
    assert set(labels) == {c.pk for c in chains[:3]}
    assert labels[chains[2].pk] == {"bob": "accepted", "carol": "rejected"}
    between = dashboards.curator_agreement()
    assert between.items == 3 and [(p.a, p.b, p.n) for p in between.pairs] == [("bob", "carol", 3)]
    assert between.pairs[0].kappa == dashboards.cohen_kappa([[1, 1], [0, 1]]) == 0.4
    assert between.fleiss == dashboards.fleiss_kappa([[2, 0], [0, 2], [1, 1]]) == 0.3333
    assert dashboards.fleiss_kappa([[2, 0], [0, 2], [2, 0], [1, 1]]) == 0.4667


def test_it_never_accepts_a_chain_the_teachers_selection_dropped(two_curators) -> None:  # type: ignore[no-untyped-def]
    bob, _ = two_curators
    ds = make_dataset()
    question = make_question(ds, 1)
    dropped, kept = question.chains.order_by("pk")
    Chain.objects.filter(pk=dropped.pk).update(kept=False, drop_reason="wrong_answer")
    for action, extra in (("accept", {}), ("edit", {"edited_text": "<think>x</think><answer>B</answer>"})):
        with pytest.raises(review.ReviewError, match="dropped by the teacher's selection"):
            review.decide(bob, dropped.pk, 0, action, **extra)
    review.decide(bob, dropped.pk, 0, "reject", reason="other")  # rejecting or flagging it is fine
    bulk = BulkAction.objects.create(action="accept", expected_count=2, created_by=bob)
    Chain.objects.filter(pk=dropped.pk).update(decision="pending", version=0)
    review.bulk_apply(bulk, Chain.objects.filter(question=question), bob)
    assert dict(Chain.objects.filter(question=question).values_list("pk", "decision")) == {
        dropped.pk: "pending", kept.pk: "accepted"}


def test_it_leaves_other_curators_decisions_alone_in_a_curators_bulk(two_curators, users) -> None:  # type: ignore[no-untyped-def]
    bob, carol = two_curators
    ds = make_dataset()
    q1, q2, q3 = make_question(ds, 1), make_question(ds, 2), make_question(ds, 3)
    carols = q1.chains.order_by("pk").first()
    review.decide(carol, carols.pk, 0, "accept")
    review.release_others(carol)
    bobs = q2.chains.order_by("pk").first()
    review.decide(bob, bobs.pk, 0, "accept")
    review.release_others(bob)
    everything = Chain.objects.filter(question__in=[q1, q2, q3])
    bulk = BulkAction.objects.create(action="reject", expected_count=6, created_by=bob)
    review.bulk_apply(bulk, everything, bob)
    decisions = dict(everything.values_list("pk", "decision"))
    assert decisions[carols.pk] == "accepted"  # carol's decision stands
    assert decisions[bobs.pk] == "rejected" and list(decisions.values()).count("rejected") == 5
    admin_bulk = BulkAction.objects.create(action="reject", expected_count=6, created_by=users["admin"])
    review.bulk_apply(admin_bulk, everything, users["admin"])
    assert Chain.objects.get(pk=carols.pk).decision == "rejected"  # an admin may overrule


def test_it_judges_an_edited_open_answer_by_the_shared_rules(two_curators) -> None:  # type: ignore[no-untyped-def]
    bob, _ = two_curators
    question = make_question(make_dataset(), 1)
    question.__class__.objects.filter(pk=question.pk).update(choices=[], answer_index=None, answer_text="two")
    chain = question.chains.order_by("pk").first()
    review.decide(bob, chain.pk, 0, "edit", edited_text="<think>Two violins.</think><answer>2 instruments</answer>")
    assert ChainRevision.objects.get(chain=chain).is_correct is True  # "2 instruments" answers "two"
