"""Inter-curator agreement counters, kept by the review tallies' triggers (tallies.py) in the same transaction.

Picking each curator's newest label over every shared chain took 2-2.7 s a dashboard at 4M chains. The triggers now
keep, for each shared chain (models.SharedChain), each curator's label in force (models.CuratorLabel), and the
reviews an undo took back (models.UndoneReview) so that the label after an undo is a lookup, not a replay of the
history (history.replay, rulings aside as the dashboard always left them). Whenever a chain's labels or `kept`
change, its contribution (one row of Fleiss' table, one cell per curator pair) is taken out of the tallies
(models.LabelPatternTally, PairTally: per dataset, so a study under way can be left out) and put back.

The statements are plain SQL that SQLite and PostgreSQL both run, over a set of chains given as a condition with
`{col}` standing for the chain id column: one chain in a row trigger, a transition table in a statement trigger.
"""

from __future__ import annotations

NOT_LABELS = "('undo', 'adjudicate')"  # an undo takes back, a ruling is no curator's label
LABELS = "('accepted', 'rejected')"
TABLES = ["curation_curatorlabel", "curation_undonereview", "curation_pairtally", "curation_labelpatterntally"]


def _on(chains: str, col: str) -> str:
    return chains.replace("{col}", col)


def undo_marker(row: str = "NEW") -> str:
    """The review the undo `row` takes back: the newest one still standing (with overlap, the same curator's)."""
    return f"""
INSERT INTO curation_undonereview (review_id, chain_id)
SELECT r.id, r.chain_id FROM curation_review r
WHERE {row}.action = 'undo' AND r.chain_id = {row}.chain_id AND r.chain_version < {row}.chain_version
  AND {_standing('r')} AND ({row}.curator_version IS NULL OR r.curator_id = {row}.curator_id)
ORDER BY r.chain_version DESC LIMIT 1;"""


def _standing(r: str) -> str:
    return (f"{r}.action NOT IN {NOT_LABELS} "
            f"AND NOT EXISTS (SELECT 1 FROM curation_undonereview u WHERE u.review_id = {r}.id)")


def labels(chains: str) -> str:
    """Insert each curator's label in force on the shared chains among `chains`: their newest standing review,
    if it accepts or rejects."""
    return f"""
INSERT INTO curation_curatorlabel (chain_id, curator_id, label)
SELECT r.chain_id, r.curator_id, r.to_decision FROM curation_review r
WHERE {_on(chains, 'r.chain_id')} AND r.chain_id IN (SELECT chain_id FROM curation_sharedchain)
  AND r.to_decision IN {LABELS} AND {_standing('r')}
  AND NOT EXISTS (SELECT 1 FROM curation_review o WHERE o.chain_id = r.chain_id AND o.curator_id = r.curator_id
                  AND o.chain_version > r.chain_version AND {_standing('o')})
ORDER BY 1, 2;"""


def contribution(chains: str, sign: str, rows: str = "curation_chain", kept: str = "c.kept") -> str:
    """Add `sign` times what the labelled chains among `chains` count for (those with two labels or more, kept):
    `rows` is where their chain rows are read (the chain table, or a trigger's old rows)."""
    where = f"{_on(chains, 'l.chain_id')} AND {kept}"
    source = (f"FROM curation_curatorlabel l JOIN {rows} c ON c.id = l.chain_id "
              f"JOIN catalog_question q ON q.id = c.question_id")
    return f"""
INSERT INTO curation_labelpatterntally (dataset_id, accepted, rejected, n)
SELECT dataset_id, accepted, rejected, ({sign}) * COUNT(*) FROM (
    SELECT q.dataset_id AS dataset_id, SUM(CASE WHEN l.label = 'accepted' THEN 1 ELSE 0 END) AS accepted,
           SUM(CASE WHEN l.label = 'rejected' THEN 1 ELSE 0 END) AS rejected
    {source} WHERE {where} GROUP BY l.chain_id, q.dataset_id HAVING COUNT(*) >= 2) p
WHERE true GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
ON CONFLICT (dataset_id, accepted, rejected) DO UPDATE SET n = curation_labelpatterntally.n + excluded.n;
INSERT INTO curation_pairtally (dataset_id, curator_a, curator_b, label_a, label_b, n)
SELECT q.dataset_id, l.curator_id, b.curator_id, l.label, b.label, ({sign}) * COUNT(*)
{source} JOIN curation_curatorlabel b ON b.chain_id = l.chain_id AND b.curator_id > l.curator_id
WHERE {where} GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5
ON CONFLICT (dataset_id, curator_a, curator_b, label_a, label_b)
DO UPDATE SET n = curation_pairtally.n + excluded.n;"""


def refresh(chains: str) -> str:
    """Take the chains' contribution out, recount their labels from the reviews, put it back."""
    return (contribution(chains, "-1")
            + f"\nDELETE FROM curation_curatorlabel WHERE {_on(chains, 'chain_id')};"
            + labels(chains) + contribution(chains, "1"))


def forget_chains(chains: str, rows: str) -> str:
    """Deleted chains: their contribution out (read from `rows`, the deleted rows), their labels and marks gone."""
    return (contribution(chains, "-1", rows=rows)
            + f"\nDELETE FROM curation_curatorlabel WHERE {_on(chains, 'chain_id')};"
            + f"\nDELETE FROM curation_undonereview WHERE {_on(chains, 'chain_id')};")


def kept_changed(chain: str, changed: str) -> str:
    """A chain kept or dropped: its contribution in or out (`changed` tests OLD.kept against NEW.kept)."""
    return contribution(f"{{col}} = {chain}.id", f"CASE WHEN {chain}.kept THEN 1 ELSE -1 END", kept=changed)
