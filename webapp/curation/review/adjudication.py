"""Adjudication: an admin's ruling on a chain the curators of an agreement study could not settle.

Under review overlap a chain without a majority (a tie) ends *flagged*: every slot of its question is completed, so
no curator is served it again. The adjudication queue lists those chains once their question is settled (no chain of
it still waits for its curators), with each curator's standing decision; an admin rules accept, reject or accept an
edit (the text of a curator's edit, or their own), with a reason.

The ruling is a history row of its own kind (`Review.Action.ADJUDICATE`, the admin as `curator`), appended like any
review under the chain's version guard: two admins ruling at once, one wins and the other is told (StaleWrite). The
chain's decision takes the ruling and its text follows it (history.ChainState.revision), so snapshots export it; the
ruling is no curator's vote (history.standing_decisions), and curators' writes on the chain are refused from then on
(decisions.Ruled), since replaying their streams would overturn it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from webapp.curation.models import Chain, Review
from webapp.curation.review.blind import in_open_question
from webapp.curation.review.decisions import card_number
from webapp.curation.review.edits import parse_edit, store_revision
from webapp.curation.review.errors import ReviewError, StaleWrite
from webapp.curation.review.history import effective_stack

logger = logging.getLogger(__name__)

Action = Review.Action
Decision = Chain.Decision
RULINGS = {"accept": Decision.ACCEPTED, "reject": Decision.REJECTED, "edit": Decision.ACCEPTED}


def ruled() -> Exists:
    """Chains (the outer query's rows) an admin has ruled on."""
    return Exists(Review.objects.filter(chain=OuterRef("pk"), action=Action.ADJUDICATE))


def ruled_chains() -> QuerySet[Review]:
    """The ids of the chains an admin has ruled on, as a subquery (a partial index holds them: they are few)."""
    return Review.objects.filter(action=Action.ADJUDICATE).values("chain_id")


def with_card_numbers(chains: QuerySet[Chain]) -> QuerySet[Chain]:
    """Each chain's `card` (decisions.card_number: its place among its question's kept chains) in the same query,
    so a page of the queue costs the same few queries at 5 or 50 rows."""
    before = (Chain.objects.filter(question=OuterRef("question"), kept=True)
              .filter(Q(run_id__lt=OuterRef("run_id")) | Q(run_id=OuterRef("run_id"),
                                                           sample_index__lt=OuterRef("sample_index")))
              .order_by().values("question").annotate(n=Count("id")).values("n"))
    return chains.annotate(card=Coalesce(Subquery(before), 0) + 1)


def adjudication_queue() -> QuerySet[Chain]:
    """The flagged kept chains of agreement studies whose question is settled, oldest question first.

    A flagged chain of a question still open waits: its curators may still change their minds (undo), and the
    study is blind until they are done.
    """
    return (Chain.objects.filter(kept=True, decision=Decision.FLAGGED, question__dataset__review_overlap__gt=1)
            .exclude(in_open_question()).order_by("question_id", "run_id", "sample_index"))


@dataclass
class Standing:
    """One curator's decision in force on a flagged chain, as the adjudication page shows it."""

    curator: str
    review: Review

    @property
    def edited_text(self) -> str:
        return self.review.revision.text if self.review.action == Action.EDIT else ""


def standings(reviews: list[Review]) -> list[Standing]:
    """Each curator's newest review in force on the chain (curators in name order); reviews oldest first, with
    `curator` and `revision` loaded. An admin's ruling is not among them."""
    mine: dict[str, Review] = {}
    for review in effective_stack(reviews):
        if review.action != Action.ADJUDICATE:
            mine[review.curator.get_username()] = review
    return [Standing(name, mine[name]) for name in sorted(mine)]


def rule(admin: AbstractBaseUser, chain_id: int, seen_version: int, action: str, *, note: str, reason: str = "",
         edited_text: str = "") -> Review:
    """Rule on a flagged chain, if it is still the version the admin saw: accept, reject (with a reason) or edit
    (accept this text). `note` says why. Checked here as well as in the view: a job or shell may call it too."""
    if action not in RULINGS:
        raise ReviewError(f"Unknown ruling {action!r}.")
    if not note.strip():
        raise ReviewError("Say why you rule so: the note is the ruling's reason.")
    if action == "reject" and not reason:
        raise ReviewError("Choose a reason to reject.")
    with transaction.atomic():
        chain = Chain.objects.select_for_update(of=("self",)).select_related("question__dataset").get(pk=chain_id)
        if chain.version != seen_version:
            last = chain.reviews.select_related("curator").order_by("-chain_version").first()
            by = f" by {last.curator.get_username()} ({last.get_action_display().lower()} → {last.to_decision})" \
                if last else ""
            raise StaleWrite(f"Chain #{card_number(chain)} changed{by} since you opened it (version {seen_version} "
                             f"→ {chain.version}); your ruling was not saved. It is shown as it is now.")
        if chain.question.dataset.review_overlap <= 1 or chain.decision != Decision.FLAGGED or not chain.kept:
            raise ReviewError(f"Chain #{card_number(chain)} is not a flagged chain of an agreement study "
                              f"(it is {chain.decision}): there is nothing to rule on.")
        if not adjudication_queue().filter(pk=chain.pk).exists():
            raise ReviewError("Its question is still open: the curators have not all decided. Rule once they have.")
        parsed = parse_edit(edited_text, chain.question) if action == "edit" else None
        to_decision = RULINGS[action]
        updated = Chain.objects.filter(pk=chain.pk, version=seen_version).update(version=seen_version + 1,
                                                                                 decision=to_decision)
        if not updated:  # only reachable where the row lock is a no-op (SQLite); the guard still holds
            raise StaleWrite("This chain changed while you were ruling; your ruling was not saved.")
        review = Review.objects.create(
            chain=chain, curator=admin, action=Action.ADJUDICATE, from_decision=chain.decision,
            to_decision=to_decision, chain_version=seen_version, reason=reason if action == "reject" else "",
            note=note.strip(), edited_text=parsed.text if parsed else "")
        if parsed is not None:
            store_revision(review, chain, parsed)
    logger.info("ruling %s: %s chain %s v%s by %s", review.pk, action, chain_id, seen_version, admin.pk)
    return review
