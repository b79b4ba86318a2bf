"""Numbers for the review dashboards: progress per dataset / curator / day, validator-vs-curator agreement, and
agreement between curators where two or more decided the same chain.

Progress, the validator table and agreement between curators are read from counters the database keeps with each
write (tallies.py, agreement_tallies.py), so the page costs the same few small queries at 5k or 4M chains. Blind studies
stay blind here too (blind.py): agreement counts settled questions only, and the figures a curator is shown leave
out other curators' decisions on open questions and any per-curator figure of a study under way.

Adjudicated chains (an admin ruled on a tie: adjudication.py) are counted apart: the ruling is neither a curator's
label in the curator-vs-curator figures nor a curator decision to hold the validators to, so each agreement section
says "adjudicated: N" and leaves them out.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.contrib.auth.models import AbstractBaseUser, User
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from webapp.catalog.models import Dataset
from webapp.curation.models import (
    Chain,
    ChainTally,
    CuratorLabel,
    GenerationRun,
    LabelPatternTally,
    PairTally,
    Review,
    ReviewTally,
    SharedChain,
    Verdict,
    VerdictTally,
)
from webapp.curation.review.adjudication import ruled_chains
from webapp.curation.review.blind import (
    in_open_question,
    open_questions,
    sees_everything,
    studies_under_way,
    study_chains,
)
from webapp.curation.review.history import effective_stack

DECISIONS = [d for d, _ in Chain.Decision.choices]
VERDICT_LABELS = [label for label, _ in Verdict.Label.choices]
CURATOR_LABELS = [Chain.Decision.ACCEPTED, Chain.Decision.REJECTED]


def progress_by_dataset(user: AbstractBaseUser | None = None) -> list[dict[str, object]]:
    """Chains per dataset by decision; to a curator, a chain of an open question is pending whatever its consensus
    (a flagged one would say the others disagreed).

    Read from the kept chains' tally per run (tallies.py), whose dataset is its questions'. A curator's
    open-question chains are counted live (they are among the few overlap datasets' chains) and moved to pending."""
    per_run: dict[int, Counter[str]] = defaultdict(Counter)
    for run_id, decision, n in ChainTally.objects.filter(n__gt=0).values_list("run_id", "decision", "n"):
        per_run[run_id].update({decision: n, "total": n})
    if not sees_everything(user):
        still_open = (study_chains().filter(kept=True, question_id__in=open_questions().values("pk"))
                      .exclude(decision=Chain.Decision.PENDING).values_list("run_id", "decision")
                      .annotate(n=Count("id")).order_by())
        for run_id, decision, n in still_open:
            per_run[run_id].update({decision: -n, Chain.Decision.PENDING: n})
    datasets = dict(GenerationRun.objects.filter(pk__in=list(per_run)).values_list("pk", "dataset_id"))
    found: dict[int, Counter[str]] = defaultdict(Counter)
    for run_id, n in per_run.items():
        found[datasets[run_id]].update(n)
    rows = []
    for ds in Dataset.objects.filter(pk__in=list(found)).order_by("name"):
        r = found[ds.pk]
        rows.append({"dataset": ds.name, "slug": ds.slug, "total": r["total"], "reviewed": r["total"] - r["pending"],
                     **{d: r[d] for d in DECISIONS}})
    return rows


ACTIONS = [a for a, _ in Review.Action.choices]


def _review_rows(user: AbstractBaseUser | None, key: str, since: date | None = None) -> dict[object, Counter[str]]:
    """Reviews per `key` ("curator_id" or "day") and action from the tally, less those blind.py hides from `user`:
    other curators' reviews in studies under way, left out by the tally's dataset (subtracting them counted live
    took ~0.5 s a table at 500k questions). Keys left with no review are dropped."""
    tally = ReviewTally.objects.filter(n__gt=0)
    if since is not None:
        tally = tally.filter(day__gte=since)
    if not sees_everything(user):
        tally = tally.exclude(Q(dataset_id__in=studies_under_way()) & ~Q(curator_id=user.pk))
    found: dict[object, Counter[str]] = defaultdict(Counter)
    for k, action, n in tally.values_list(key, "action").annotate(n=Sum("n")).order_by():
        found[k].update({action: n, "total": n})
    return {k: counts for k, counts in found.items() if counts["total"] > 0}


def progress_by_curator(user: AbstractBaseUser | None = None) -> list[dict[str, object]]:
    found = _review_rows(user, "curator_id")
    names = dict(User.objects.filter(pk__in=list(found)).values_list("pk", "username"))
    rows = [{"curator": names[k], "total": r["total"], **{a: r[a] for a in ACTIONS}} for k, r in found.items()]
    return sorted(rows, key=lambda r: (-int(str(r["total"])), str(r["curator"])))


def progress_by_day(days: int = 30, user: AbstractBaseUser | None = None) -> list[dict[str, object]]:
    """Reviews per calendar day (TIME_ZONE) of the last `days`, today included, by action.

    Counted as the per-curator table counts them, by what the curator did: counting by the decision a review left
    (`to_decision`, as this did) put an undo back to *accepted*, or an edit, among the day's acceptances, so the
    days did not add up to the totals beside them. The window starts at a midnight, so the first day is whole.
    """
    found = _review_rows(user, "day", since=timezone.localdate() - timedelta(days=days - 1))
    return [{"day": day.isoformat(), "total": found[day]["total"], **{a: found[day][a] for a in ACTIONS}}
            for day in sorted(found)]  # type: ignore[type-var, attr-defined]


def day_totals(by_day: list[dict[str, object]]) -> dict[str, int]:
    """The per-day table's total row: each action summed over the days shown."""
    return {key: sum(int(str(r[key])) for r in by_day) for key in ("total", *ACTIONS)}


@dataclass
class Agreement:
    validator: str
    version: str
    matrix: dict[str, dict[str, int]] = field(default_factory=dict)  # verdict label -> curator decision -> n
    adjudicated: int = 0  # chains of this validator version an admin ruled on: left out of the matrix

    @property
    def rows(self) -> list[tuple[str, list[int]]]:
        return [(label, [self.matrix.get(label, {}).get(d, 0) for d in CURATOR_LABELS]) for label in VERDICT_LABELS]

    @property
    def n(self) -> int:
        return sum(sum(row.values()) for row in self.matrix.values())

    @property
    def disagreements(self) -> int:
        return self.matrix.get("pass", {}).get("rejected", 0) + self.matrix.get("fail", {}).get("accepted", 0)

    @property
    def kappa(self) -> float | None:
        """Cohen's kappa on the binary pass↔accepted / fail↔rejected table (uncertain verdicts left out)."""
        return cohen_kappa([[self.matrix.get(v, {}).get(d, 0) for d in CURATOR_LABELS] for v in ("pass", "fail")])


def cohen_kappa(table: list[list[int]]) -> float | None:
    """Cohen's kappa of a square agreement table (rows: rater 1, columns: rater 2); None when undefined.

    >>> cohen_kappa([[20, 5], [10, 15]])
    0.4
    >>> cohen_kappa([[3, 0], [0, 0]]) is None
    True
    """
    n = sum(sum(row) for row in table)
    if not n:
        return None
    k = len(table)
    observed = sum(table[i][i] for i in range(k)) / n
    expected = sum(sum(table[i]) * sum(row[i] for row in table) for i in range(k)) / (n * n)
    if expected >= 1:
        return None
    return round((observed - expected) / (1 - expected), 4)


def validator_agreement() -> list[Agreement]:
    """Each chain's verdict of record against the curators' decision, per validator version, on settled questions
    (an open question's consensus is not final); history verdicts do not count.

    Read from the tally (tallies.py), less the chains of open questions and the adjudicated ones, counted live: both
    are among the few overlap datasets' chains."""
    found: dict[tuple[str, str], Agreement] = {}
    keys = ("validator", "validator_version", "label", "decision")
    for v, version, label, decision, n in (VerdictTally.objects.filter(n__gt=0, decision__in=CURATOR_LABELS)
                                           .values_list(*keys, "n")):
        found.setdefault((v, version), Agreement(v, version)).matrix.setdefault(label, defaultdict(int))[decision] += n
    decided = study_chains().filter(decision__in=CURATOR_LABELS, kept=True, verdict__isnull=False).order_by()
    in_open = decided.filter(question_id__in=open_questions().values("pk"))
    adjudicated = decided.filter(pk__in=ruled_chains()).exclude(question_id__in=open_questions().values("pk"))
    for chains, ruled in ((in_open, False), (adjudicated, True)):
        for v, version, label, decision, n in (chains.values_list(*(f"verdict__{k}" for k in keys[:3]), "decision")
                                               .annotate(n=Count("id"))):
            agreement = found[(v, version)]
            agreement.matrix[label][decision] -= n
            agreement.adjudicated += n if ruled else 0
    for agreement in found.values():
        agreement.matrix = {label: cells for label, row in agreement.matrix.items()
                            if (cells := defaultdict(int, {d: n for d, n in row.items() if n}))}
    return [found[k] for k in sorted(found) if found[k].matrix or found[k].adjudicated]


# --- inter-curator agreement --------------------------------------------------------------------------------


@dataclass
class PairAgreement:
    a: str
    b: str
    n: int
    kappa: float | None


@dataclass
class CuratorAgreement:
    """Agreement between curators on the chains two or more of them decided (accepted / rejected)."""

    items: int = 0
    pairs: list[PairAgreement] = field(default_factory=list)
    fleiss: float | None = None
    adjudicated: int = 0  # tied chains an admin ruled on (the curators' labels count, the ruling does not)


def fleiss_kappa(counts: list[list[int]]) -> float | None:
    """Fleiss' kappa of per-item category counts (rows: items, columns: categories); None when undefined.

    Items may have different numbers of raters (at least 2): P_i = (Σ n_ij² − n_i) / (n_i (n_i − 1)), P̄ their
    mean, P_e = Σ p_j² with p_j the share of all ratings in category j. With equal raters this is Fleiss (1971).

    >>> fleiss_kappa([[2, 0], [0, 2], [2, 0], [1, 1]])
    0.4667
    >>> fleiss_kappa([[2, 0], [2, 0]]) is None
    True
    """
    return weighted_fleiss_kappa(Counter(tuple(row) for row in counts))


def weighted_fleiss_kappa(patterns: Counter[tuple[int, ...]]) -> float | None:
    """Fleiss' kappa from each distinct row of category counts and how many items have it (what SQL groups to).

    >>> weighted_fleiss_kappa(Counter({(2, 0): 2, (0, 2): 1, (1, 1): 1}))
    0.4667
    """
    rows = {row: n for row, n in patterns.items() if sum(row) >= 2 and n}
    if not rows:
        return None
    items = sum(rows.values())
    p_bar = sum(n * (sum(c * c for c in row) - sum(row)) / (sum(row) * (sum(row) - 1))
                for row, n in rows.items()) / items
    total = sum(n * sum(row) for row, n in rows.items())
    width = len(next(iter(rows)))
    p_e = sum((sum(n * row[j] for row, n in rows.items()) / total) ** 2 for j in range(width))
    if p_e >= 1:
        return None
    return round((p_bar - p_e) / (1 - p_e), 4)


def _overlap_reviews() -> QuerySet[Review]:
    """Curators' reviews (rulings left out) of kept chains that two or more curators reviewed, outside open
    questions (their labels are neither final nor the others' to see). The cost follows the overlap, not the whole
    history."""
    curators = Review.objects.exclude(action=Review.Action.ADJUDICATE)  # an admin's ruling is no curator's label
    return curators.filter(chain_id__in=_shared(), chain__kept=True).exclude(in_open_question("chain__"))


def _shared() -> QuerySet[SharedChain]:
    """The chains two or more curators reviewed, kept as a set by tallies.py: where the queries start."""
    return SharedChain.objects.values("chain_id")


def _replayed_labels(reviews: QuerySet[Review]) -> dict[int, dict[str, str]]:
    """chain → curator → decision in force, replaying each chain's history (history.effective_stack)."""
    history: dict[int, list[Review]] = defaultdict(list)
    fields = ("chain_id", "action", "to_decision", "curator_version", "curator__username")
    for r in reviews.select_related("curator").only(*fields).order_by("chain_id", "chain_version"):
        history[r.chain_id].append(r)
    labels: dict[int, dict[str, str]] = {}
    for chain_id, stream in history.items():
        mine: dict[str, str] = {}
        for r in effective_stack(stream):
            mine[r.curator.username] = r.to_decision
        decided = {who: d for who, d in mine.items() if d in CURATOR_LABELS}
        if len(decided) >= 2:
            labels[chain_id] = decided
    return labels


def curator_labels_per_chain() -> dict[int, dict[str, str]]:
    """chain → curator → that curator's decision still in force on it, for chains two or more curators decided.

    The history is replayed as history.effective_stack does (an undo takes back the newest review in force; under
    review overlap, the newest of the same curator's); each curator's label is their newest review left standing,
    if it accepts or rejects. The blind streams of datasets with review overlap are what feed this; chains that
    two curators happened to decide one after the other count too, but a question still open (a chain waiting
    for its N decisions) does not. The dashboard reads the same labels as the review triggers keep them
    (`curator_agreement`); this replay is for looking at a few chains, and the tests' reference.
    """
    return _replayed_labels(_overlap_reviews())


def _open_labels() -> dict[int, tuple[int, list[tuple[int, str]]]]:
    """chain → (dataset, [(curator, label) by curator id]) for the kept labelled chains of open questions: counted in
    the tallies, left out of agreement until settled. Among the few overlap datasets' chains."""
    chains = study_chains().filter(kept=True, question_id__in=open_questions().values("pk")).values("pk")
    rows = (CuratorLabel.objects.filter(chain_id__in=chains).order_by("chain_id", "curator_id")
            .values_list("chain_id", "curator_id", "label"))
    found: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for chain_id, curator_id, label in rows:
        found[chain_id].append((curator_id, label))
    datasets = dict(Chain.objects.filter(pk__in=list(found)).values_list("pk", "question__dataset_id"))
    return {chain_id: (datasets[chain_id], labels) for chain_id, labels in found.items() if len(labels) >= 2}


def curator_agreement(user: AbstractBaseUser | None = None) -> CuratorAgreement:
    """Pairwise Cohen's kappa for every two curators with chains in common, and Fleiss' kappa over all raters.

    Read from the tallies the review triggers keep (agreement_tallies.py: each curator's label in force on each
    shared chain, replays of undos included), less the open questions' chains, counted live from their labels. A
    curator's pairs leave out the studies under way (a per-curator figure of a blind study); Fleiss' kappa, one
    number over every settled chain, stays."""
    private = [] if sees_everything(user) else studies_under_way()
    patterns: Counter[tuple[int, ...]] = Counter()
    for accepted, rejected, n in (LabelPatternTally.objects.values_list("accepted", "rejected")
                                  .annotate(total=Sum("n")).order_by().values_list("accepted", "rejected", "total")):
        patterns[accepted, rejected] += n
    cells: Counter[tuple[int, int, str, str]] = Counter()
    keys = ("curator_a", "curator_b", "label_a", "label_b")
    pair_rows = PairTally.objects.exclude(dataset_id__in=private).values_list(*keys).annotate(total=Sum("n"))
    for a, b, label_a, label_b, n in pair_rows.order_by():
        cells[a, b, label_a, label_b] += n
    for dataset_id, labels in _open_labels().values():
        patterns[tuple(sum(1 for _, label in labels if label == c) for c in CURATOR_LABELS)] -= 1
        if dataset_id in private:
            continue
        for i, (a, label_a) in enumerate(labels):
            for b, label_b in labels[i + 1:]:
                cells[a, b, label_a, label_b] -= 1
    patterns = +patterns  # counts left at zero (or below, which would be a bug) are no rows
    names = dict(User.objects.filter(pk__in={c for a, b, _, _ in cells for c in (a, b)}).values_list("pk", "username"))
    tables: dict[tuple[str, str], list[list[int]]] = {}
    for (a, b, label_a, label_b), n in cells.items():
        if n <= 0:
            continue
        (first, l1), (second, l2) = sorted([(names[a], label_a), (names[b], label_b)])
        tables.setdefault((first, second), [[0, 0], [0, 0]])[CURATOR_LABELS.index(l1)][CURATOR_LABELS.index(l2)] += n
    pairs = [PairAgreement(a, b, sum(map(sum, t)), cohen_kappa(t)) for (a, b), t in sorted(tables.items())]
    adjudicated = Chain.objects.filter(kept=True, pk__in=ruled_chains()).count()
    return CuratorAgreement(items=sum(patterns.values()), pairs=pairs, fleiss=weighted_fleiss_kappa(patterns),
                            adjudicated=adjudicated)
