"""What may be seen of a blind agreement study (review overlap) while it is under way, outside the item page too.

A question of an overlap dataset is *open* while any kept chain of it still waits for its N decisions: the test that
keeps its item page blind (panel.py). Until then a chain's consensus is not final and other curators' decisions on
it are not for a curator to see, so:

- agreement figures (validator vs curator, curator vs curator) count settled questions only, for everyone;
- a curator (not an admin) is shown no other curator's decision on an open question in any count or list, and no
  per-curator figure of a study under way (a dataset with an open question); admins see everything.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Exists, OuterRef, Q, QuerySet

from webapp.catalog.models import Dataset, Question
from webapp.core.roles import is_admin
from webapp.curation.models import Chain, GenerationRun, Review


def sees_everything(user: AbstractBaseUser | None) -> bool:
    """Admins run the studies; a job (no user) applies what was already checked when it was queued."""
    return user is None or is_admin(user)


def in_open_question(chain_path: str = "") -> Q:
    """Rows whose chain's question is open: chains (`chain_path` ""), or rows reaching a chain ("chain__")."""
    waiting = Chain.objects.filter(question=OuterRef(f"{chain_path}question"), kept=True,
                                   decision=Chain.Decision.PENDING)
    return Q(**{f"{chain_path}question__dataset__review_overlap__gt": 1}) & Q(Exists(waiting))


def open_questions() -> QuerySet[Question]:
    """The open questions themselves (as `in_open_question` tests row by row), for a subquery the database hashes
    once: they are among the few overlap datasets' questions."""
    waiting = Chain.objects.filter(question=OuterRef("pk"), kept=True, decision=Chain.Decision.PENDING)
    studies = list(Dataset.objects.filter(review_overlap__gt=1).values_list("pk", flat=True))  # a handful
    return Question.objects.filter(dataset_id__in=studies).filter(Exists(waiting))


def study_chains() -> QuerySet[Chain]:
    """The chains of overlap datasets, found by their runs (few) rather than by a test on every chain."""
    runs = GenerationRun.objects.filter(dataset__review_overlap__gt=1).values_list("pk", flat=True)
    return Chain.objects.filter(run_id__in=list(runs))  # ids, not a subquery: the planner then knows how many


def studies_under_way() -> list[int]:
    """Ids of the overlap datasets with an open question (a handful of datasets: one small query)."""
    # From the studies' questions, each tested on the pending-chain index: testing the datasets joined 4M chains to
    # their questions (1.4-1.7 s a call at 500k questions).
    return sorted(set(open_questions().values_list("dataset_id", flat=True).order_by()))


def visible_reviews(user: AbstractBaseUser | None, reviews: QuerySet[Review] | None = None) -> QuerySet[Review]:
    """The reviews this user may count or filter by: for a curator, their own and those outside studies under way."""
    reviews = reviews if reviews is not None else Review.objects.all()
    if sees_everything(user):
        return reviews
    # The studies' chains as a subquery (one hashed set of the few overlap datasets' chains) rather than a join of
    # every review to its chain, question and dataset: 3.1-4.2 s -> 0.7-1.2 s per dashboard table at 400k reviews.
    studies = Chain.objects.filter(question__dataset_id__in=studies_under_way()).values("pk")
    return reviews.filter(Q(curator=user) | ~Q(chain_id__in=studies))


def hide_open_consensus(user: AbstractBaseUser | None, chains: QuerySet[Chain]) -> QuerySet[Chain]:
    """For a curator, drop the chains of open questions whose consensus is already set (it would tell them how the
    others decided); their pending chains stay, they are the queue."""
    if sees_everything(user):
        return chains
    return chains.exclude(in_open_question() & ~Q(decision=Chain.Decision.PENDING))
