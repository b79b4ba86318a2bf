"""The dashboard reads counters the database keeps with each write (review/tallies.py, agreement_tallies.py): after
any mix of decisions, undos (single review and a study's own streams), bulk actions, rulings, a new verdict of
record, imports, `kept` changes and run deletions, every figure is the one the GROUP BYs over all chains and reviews
and the replay of every shared chain's history give (what the dashboard ran before, kept here as the reference), for
admins, curators inside and outside a study under way, and jobs; and recounting from scratch changes nothing."""

from __future__ import annotations

import io
import random
from collections import Counter, defaultdict
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.webapp.conftest import client_for
from tests.webapp.review_factories import make_dataset, make_question, make_study, make_tie
from webapp.curation.housekeeping import delete_run, plan_run_deletion
from webapp.curation.models import (
    BulkAction,
    Chain,
    ChainTally,
    CuratorLabel,
    GenerationRun,
    LabelPatternTally,
    PairTally,
    Review,
    ReviewTally,
    SharedChain,
    UndoneReview,
    Verdict,
    VerdictTally,
)
from webapp.curation.record import keep_verdicts_of_record
from webapp.curation.review import ReviewError, bulk_apply, decide, undo
from webapp.curation.review import dashboards as d
from webapp.curation.review.adjudication import rule, ruled
from webapp.curation.review.blind import in_open_question, open_questions, sees_everything, visible_reviews

pytestmark = pytest.mark.django_db


# --- the reference: the dashboard's GROUP BYs over every chain and review, as they were -----------------------------


def reference_progress_by_dataset(user: User | None) -> list[dict[str, object]]:
    counts = {k: Count("id", filter=Q(decision=k)) for k in d.DECISIONS}
    per_run: dict[int, Counter[str]] = {
        r.pop("run_id"): Counter(r)
        for r in Chain.objects.filter(kept=True).values("run_id").annotate(**counts, total=Count("id")).order_by()}
    if not sees_everything(user):
        still_open = (Chain.objects.filter(kept=True, question_id__in=open_questions().values("pk"))
                      .exclude(decision="pending").values_list("run_id", "decision").annotate(n=Count("id")).order_by())
        for run_id, decision, n in still_open:
            per_run[run_id].update({decision: -n, "pending": n})
    found: dict[str, Counter[str]] = defaultdict(Counter)
    for run in GenerationRun.objects.filter(pk__in=list(per_run)).select_related("dataset"):
        found[run.dataset.name].update(per_run[run.pk])
    return [{"dataset": name, "total": r["total"], **{k: r[k] for k in d.DECISIONS}}
            for name, r in sorted(found.items())]


def reference_reviews(user: User | None, key: str, days: int = 30) -> list[dict[str, object]]:
    actions = {a: Count("id", filter=Q(action=a)) for a in d.ACTIONS}
    reviews = visible_reviews(user)
    if key == "day":
        since = timezone.make_aware(datetime.combine(timezone.localdate() - timedelta(days=days - 1), time.min))
        rows = (reviews.filter(created_at__gte=since).annotate(day=TruncDate("created_at")).values("day")
                .annotate(**actions, total=Count("id")).order_by("day"))
        return [{"day": r["day"].isoformat(), "total": r["total"], **{a: r[a] for a in d.ACTIONS}} for r in rows]
    rows = reviews.values("curator__username").annotate(**actions, total=Count("id")).order_by()
    return sorted(({"curator": r["curator__username"], "total": r["total"], **{a: r[a] for a in d.ACTIONS}}
                   for r in rows), key=lambda r: (-r["total"], r["curator"]))


def reference_validator_agreement() -> list[d.Agreement]:
    rows = (Chain.objects.filter(decision__in=d.CURATOR_LABELS, kept=True, verdict__isnull=False)
            .exclude(in_open_question()).annotate(ruled=ruled())
            .values("verdict__validator", "verdict__validator_version", "verdict__label", "decision", "ruled")
            .annotate(n=Count("id")).order_by("verdict__validator", "verdict__validator_version"))
    found: dict[tuple[str, str], d.Agreement] = {}
    for r in rows:
        agreement = found.setdefault((r["verdict__validator"], r["verdict__validator_version"]),
                                     d.Agreement(r["verdict__validator"], r["verdict__validator_version"]))
        if r["ruled"]:
            agreement.adjudicated += r["n"]
        else:
            agreement.matrix.setdefault(r["verdict__label"], defaultdict(int))[r["decision"]] += r["n"]
    return list(found.values())


def reference_shared_chains() -> set[int]:
    shared = (Review.objects.exclude(action="adjudicate").values("chain_id")
              .annotate(raters=Count("curator", distinct=True)).filter(raters__gte=2))
    return set(shared.values_list("chain_id", flat=True))


def reference_curator_agreement(user: User | None) -> d.CuratorAgreement:
    """Each shared chain's history replayed in Python (dashboards.curator_labels_per_chain), counted chain by chain."""
    labels = d.curator_labels_per_chain()
    private = set() if sees_everything(user) else set(d.studies_under_way())
    datasets = dict(Chain.objects.filter(pk__in=list(labels)).values_list("pk", "question__dataset_id"))
    tables: dict[tuple[str, str], list[list[int]]] = {}
    counts = []
    for chain_id, decided in labels.items():
        counts.append([sum(1 for v in decided.values() if v == label) for label in d.CURATOR_LABELS])
        if datasets[chain_id] in private:
            continue
        names = sorted(decided)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                table = tables.setdefault((a, b), [[0, 0], [0, 0]])
                table[d.CURATOR_LABELS.index(decided[a])][d.CURATOR_LABELS.index(decided[b])] += 1
    pairs = [d.PairAgreement(a, b, sum(map(sum, t)), d.cohen_kappa(t)) for (a, b), t in sorted(tables.items())]
    adjudicated = Chain.objects.filter(kept=True, pk__in=Review.objects.filter(action="adjudicate").values("chain"))
    return d.CuratorAgreement(items=len(labels), pairs=pairs, fleiss=d.fleiss_kappa(counts),
                              adjudicated=adjudicated.count())


def figures(user: User | None) -> dict[str, Any]:
    by_dataset = [{k: v for k, v in r.items() if k not in ("slug", "reviewed")} for r in d.progress_by_dataset(user)]
    return {"datasets": by_dataset, "curators": d.progress_by_curator(user), "days": d.progress_by_day(user=user),
            "validators": d.validator_agreement(), "curators_agree": d.curator_agreement(user)}


def tally_rows() -> dict[str, set[tuple[Any, ...]]]:
    counted = {m.__name__: set(m.objects.filter(n__gt=0).values_list(*[f.attname for f in m._meta.fields][1:]))
               for m in (ChainTally, VerdictTally, ReviewTally, PairTally, LabelPatternTally)}
    kept = {"CuratorLabel": set(CuratorLabel.objects.values_list("chain_id", "curator_id", "label")),
            "UndoneReview": set(UndoneReview.objects.values_list("review_id", "chain_id"))}
    return {**counted, **kept}


def assert_figures_are_the_group_bys(viewers: list[User | None]) -> None:
    for user in viewers:
        found = figures(user)
        assert found["datasets"] == reference_progress_by_dataset(user), user
        assert found["curators"] == reference_reviews(user, "curator"), user
        assert found["days"] == reference_reviews(user, "day"), user
        assert found["validators"] == reference_validator_agreement()
        assert found["curators_agree"] == reference_curator_agreement(user), user
    assert set(SharedChain.objects.values_list("chain_id", flat=True)) == reference_shared_chains()


# --- the random mix ---------------------------------------------------------------------------------------------


class Mix:
    def __init__(self, rng: random.Random, users: dict[str, User], curators: dict[str, User]) -> None:
        self.rng, self.admin = rng, users["admin"]
        self.people = [curators["bob"], curators["carol"], curators["dave"]]
        self.plain = make_dataset("plain")
        self.teacher = GenerationRun.objects.create(dataset=self.plain, status="succeeded")
        for n in range(6):
            make_question(self.plain, n, chains=3, run=self.teacher)
        self.study = make_study("study", overlap=2)
        self.ties = 0

    def chains(self) -> list[Chain]:
        return list(Chain.objects.filter(question__dataset=self.plain).order_by("pk"))

    def decide(self) -> None:
        chain = self.rng.choice(self.chains())
        action = self.rng.choice(["accept", "reject", "flag"])
        try:
            decide(self.rng.choice(self.people + [self.admin]), chain.pk, chain.version, action,
                   reason="other" if action != "accept" else "", note="n")
        except ReviewError:
            pass

    def undo(self) -> None:
        reviewed = [c for c in self.chains() if c.version]
        if reviewed:
            chain = self.rng.choice(reviewed)
            last = chain.reviews.order_by("-chain_version").first()
            try:
                undo(last.curator, chain.pk, chain.version)
            except ReviewError:
                pass

    def bulk(self) -> None:
        action = self.rng.choice(["accept", "reject"])
        bulk = BulkAction.objects.create(action=action, reason="other" if action == "reject" else "", filters={},
                                         expected_count=0, created_by=self.admin)
        picked = [c.pk for c in self.rng.sample(self.chains(), 4)]
        bulk_apply(bulk, Chain.objects.filter(pk__in=picked), self.admin)

    def adjudicate(self) -> None:
        self.ties += 1
        first, second = self.rng.sample(self.people, 2)
        tied, _ = make_tie(self.study, 100 + self.ties, first, second)
        if self.rng.random() < 0.7:
            rule(self.admin, tied.pk, tied.version, self.rng.choice(["accept", "reject"]), note="heard it",
                 reason="other")

    def open_study_question(self) -> None:
        """A question of the study one curator has decided and the other not yet: open, so blind."""
        self.ties += 1
        question = make_question(self.study, 100 + self.ties, chains=2)
        for chain in question.chains.all():
            decide(self.rng.choice(self.people), chain.pk, 0, "accept")

    def study_second_thoughts(self) -> None:
        """A curator of the study takes back their newest decision on a chain (their own stream), maybe decides
        again: their label in force changes while the other's stays."""
        reviewed = list(Review.objects.filter(chain__question__dataset=self.study).exclude(action="adjudicate")
                        .order_by("pk"))
        if not reviewed:
            return
        review = self.rng.choice(reviewed)
        mine = Review.objects.filter(chain_id=review.chain_id, curator=review.curator).count()
        try:
            undo(review.curator, review.chain_id, mine)
            if self.rng.random() < 0.6:
                action = self.rng.choice(["accept", "reject"])
                decide(review.curator, review.chain_id, mine + 1, action, reason="other" if action == "reject" else "")
        except ReviewError:
            pass

    def revalidate(self) -> None:
        run = GenerationRun.objects.create(dataset=self.plain, kind="validation", source_run=self.teacher,
                                           status="succeeded", config={"validators": "lalm"})
        version = f"v{run.pk}"
        for chain in self.rng.sample(self.chains(), 8):
            Verdict.objects.create(chain=chain, run=run, validator="lalm", validator_version=version,
                                   label=self.rng.choice(["pass", "fail", "uncertain"]))
        keep_verdicts_of_record(run)

    def import_run(self) -> None:
        """An imported run's chains, written as the import writes them: one multi-row insert."""
        run = GenerationRun.objects.create(dataset=self.plain, kind="imported", status="succeeded")
        Chain.objects.bulk_create(Chain(run=run, question=q, sample_index=0, text="t", kept=self.rng.random() < 0.8)
                                  for q in self.plain.questions.all())

    def unkeep(self) -> None:
        chain = self.rng.choice(self.chains())
        Chain.objects.filter(pk=chain.pk).update(kept=not chain.kept)

    def delete_run(self) -> None:
        runs = list(GenerationRun.objects.filter(dataset=self.plain, kind__in=["validation", "imported"]))
        if runs:
            delete_run(plan_run_deletion(self.rng.choice(runs)))


OPERATIONS = ["decide"] * 8 + ["undo"] * 3 + ["study_second_thoughts"] * 2 + [
    "bulk", "adjudicate", "open_study_question", "revalidate", "import_run", "unkeep", "delete_run"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_dashboard_figure_is_the_group_by_after_a_random_mix_of_writes(users, curators, seed) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    mix = Mix(rng, users, curators)
    mix.adjudicate()
    mix.open_study_question()
    for _ in range(40):
        getattr(mix, rng.choice(OPERATIONS))()
    viewers = [users["admin"], curators["bob"], curators["frank"], None]
    assert_figures_are_the_group_bys(viewers)
    assert ChainTally.objects.filter(n__gt=0).exists() and Review.objects.filter(action="undo").exists()
    assert Review.objects.filter(action="adjudicate").exists() and VerdictTally.objects.exists()
    assert UndoneReview.objects.filter(chain_id__in=SharedChain.objects.values("chain_id")).exists()
    assert figures(users["admin"])["curators_agree"].pairs and LabelPatternTally.objects.filter(n__gt=0).exists()
    counted, shown = tally_rows(), {u: figures(u) for u in viewers}
    out = io.StringIO()
    call_command("rebuild_review_tallies", stdout=out)  # the operators' recount: the same rows again
    assert "ChainTally: " in out.getvalue() and "ClipTally: " in out.getvalue()
    assert tally_rows() == counted
    assert {u: figures(u) for u in viewers} == shown
    assert not ChainTally.objects.filter(n__lt=0).exists() and not ReviewTally.objects.filter(n__lt=0).exists()


def test_a_run_deleted_with_its_chains_leaves_no_count_behind(users, curators) -> None:  # type: ignore[no-untyped-def]
    dataset = make_dataset("gone")
    run = GenerationRun.objects.create(dataset=dataset, status="succeeded")
    question = make_question(dataset, 1, chains=3, run=run)
    decide(curators["bob"], question.chains.first().pk, 0, "accept")
    assert ChainTally.objects.filter(run_id=run.pk, n__gt=0).count() == 2
    delete_run(plan_run_deletion(run))
    assert not ChainTally.objects.filter(n__gt=0).exists() and not ReviewTally.objects.filter(n__gt=0).exists()
    assert not VerdictTally.objects.filter(n__gt=0).exists() and d.progress_by_dataset() == []


def test_the_dashboard_reads_no_chain_or_review_row_outside_the_studies(users, curators) -> None:  # type: ignore[no-untyped-def]
    """Progress, the per-curator and per-day tables and the validator table were GROUP BYs over every chain and
    review; now every query on those tables is confined to the small sets (studies, rulings, shared chains)."""
    dataset = make_dataset("big")
    for n in range(4):
        question = make_question(dataset, n, chains=2)
        decide(curators["bob"], question.chains.first().pk, 0, "accept")
    make_tie(make_study(), 9, curators["bob"], curators["carol"])
    for viewer in (users["admin"], curators["frank"]):
        client = client_for(viewer)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/review/dashboard/").status_code == 200
        for query in ctx.captured_queries:
            sql = query["sql"]
            for table in ('FROM "curation_chain"', 'FROM "curation_review"'):
                if table in sql and "GROUP BY" in sql:
                    assert any(small in sql for small in ("review_overlap", '"curation_sharedchain"',
                                                          "'adjudicate'", "dataset_id\" IN")), sql
