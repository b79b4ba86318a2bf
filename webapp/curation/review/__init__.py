"""Review of teacher chains by curators: leases, the queue, decisions and undo, bulk actions, dashboards, pages.

The rules (what a write must check and what the history means) live in small modules, one job each:
`leases` (who reviews a question now), `queue` (which question next), `history` (the state the append-only reviews
derive), `edits` (an edited chain re-parsed), `decisions` (accept/reject/edit/flag/undo against the version seen),
`bulk` (a filtered set at once), `dashboards` (progress and agreement figures). The pages are `views` (+ `panel`,
what an item page shows), `forms`, `urls`, `spectrogram`; `jobs` is the RQ entry point.

This package re-exports the rules' public names, so `review.decide(...)` reads as before; the pages and jobs are
imported by their module.
"""

from webapp.curation.review.bulk import BULK_BATCH, bulk_apply
from webapp.curation.review.decisions import (
    REJECT_REASONS,
    card_number,
    card_number_and_done,
    decide,
    last_undoable,
    undo,
    undoable,
)
from webapp.curation.review.edits import ParsedEdit, parse_edit
from webapp.curation.review.errors import InvalidEdit, LeaseHeld, ReviewError, StaleWrite
from webapp.curation.review.history import (
    ChainState,
    chain_state,
    consensus,
    effective_stack,
    own_stack,
    standing_decisions,
    stream_version,
)
from webapp.curation.review.leases import claim, ensure_lease, lease_holder, release_others, try_claim
from webapp.curation.review.queue import claim_next, pending_chains, previous_question_id, question_done

__all__ = [
    "BULK_BATCH", "REJECT_REASONS", "ChainState", "InvalidEdit", "LeaseHeld", "ParsedEdit", "ReviewError",
    "StaleWrite", "bulk_apply", "card_number", "card_number_and_done", "chain_state", "claim", "claim_next",
    "consensus", "decide", "effective_stack", "ensure_lease", "last_undoable", "lease_holder", "own_stack",
    "parse_edit", "pending_chains", "previous_question_id", "question_done", "release_others", "standing_decisions",
    "stream_version", "try_claim", "undo", "undoable",
]
