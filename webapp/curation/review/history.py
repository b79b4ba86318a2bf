"""A chain's state derived from its append-only review history: the decision and text in force, replayed.

Reviews are never updated or deleted; an undo is a row that takes back the newest review still in force (with review
overlap, the same curator's). `Chain.decision` and `Chain.version` are a cache of what this replay says, written in
the same transaction as each review.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from webapp.curation.models import Chain, ChainRevision, Review

Decision = Chain.Decision
Action = Review.Action


@dataclass
class ChainState:
    """What the history says a chain is now: its decision, its current text, and the reviews still in force."""

    chain: Chain
    stack: list[Review] = field(default_factory=list)

    @property
    def top(self) -> Review | None:
        return self.stack[-1] if self.stack else None

    @property
    def ruling(self) -> Review | None:
        """An admin's ruling in force on the chain (adjudication.py), if any: it decides the decision and text."""
        return next((r for r in reversed(self.stack) if r.action == Action.ADJUDICATE), None)

    @property
    def revision(self) -> ChainRevision | None:
        """The edit in force: the newest one, unless a ruling came after it, which decides the text (a ruling that
        accepts the teacher's text sets aside the edit a curator made)."""
        for review in reversed(self.stack):
            if review.action == Action.ADJUDICATE:
                return review.revision if review.edited_text else None
            if review.action == Action.EDIT:
                return review.revision
        return None

    @property
    def text(self) -> str:
        revision = self.revision
        return revision.text if revision is not None else self.chain.text


def effective_stack(reviews: list[Review]) -> list[Review]:
    """Replay the history: an undo removes the newest review still in force. With review overlap each curator
    has their own stream (the undo carries a curator_version): it removes that curator's newest one only."""
    return replay(reviews)[0]


def replay(reviews: list[Review]) -> tuple[list[Review], list[Review]]:
    """The reviews still in force and those the undos took back (review/tallies.py keeps the latter)."""
    stack: list[Review] = []
    taken_back: list[Review] = []
    for review in reviews:
        if review.action != Action.UNDO:
            stack.append(review)
            continue
        for i in range(len(stack) - 1, -1, -1):
            if review.curator_version is None or stack[i].curator_id == review.curator_id:
                taken_back.append(stack.pop(i))
                break
    return stack, taken_back


def standing_decisions(stack: list[Review]) -> dict[int, str]:
    """curator id → that curator's decision still in force on the chain (their newest review left standing); an
    admin's ruling is no vote."""
    return {review.curator_id: review.to_decision for review in stack if review.action != Action.ADJUDICATE}


def consensus(decisions: list[str], overlap: int) -> str:
    """The chain's decision under review overlap, from each curator's standing decision (one per curator).

    Pending until `overlap` curators have decided, so the question stays in the queue; then the decision that
    more than half of them share; without such a majority (a tie, or three ways) it is flagged, to be looked at
    again. An edit counts as "accepted". Exports read this decision (and the newest edit still in force).

    >>> consensus(["accepted"], 2)
    'pending'
    >>> consensus(["accepted", "accepted"], 2)
    'accepted'
    >>> consensus(["accepted", "rejected"], 2)
    'flagged'
    >>> consensus(["rejected", "accepted", "rejected"], 3)
    'rejected'
    """
    votes = [d for d in decisions if d != Decision.PENDING]
    if len(votes) < overlap:
        return Decision.PENDING.value
    top, n = Counter(votes).most_common(1)[0]
    return str(top) if 2 * n > len(votes) else Decision.FLAGGED.value


def own_stack(user_id: int, stack: list[Review]) -> list[Review]:
    return [review for review in stack if review.curator_id == user_id]


def stream_version(user_id: int, reviews: list[Review]) -> int:
    """The version of a curator's own stream on a chain (overlap): how many reviews they have written on it."""
    return sum(1 for review in reviews if review.curator_id == user_id)


def chain_state(chain: Chain, reviews: list[Review] | None = None) -> ChainState:
    if reviews is None:
        reviews = list(chain.reviews.select_related("revision", "curator").order_by("chain_version"))
    return ChainState(chain=chain, stack=effective_stack(reviews))
