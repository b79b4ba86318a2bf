"""Several curators in separate processes against PostgreSQL never hold the same question or lose a decision.

Marked `postgres`: scripts/test.sh selects it in the PostgreSQL database run only (SQLite serialises writers in
one file, so the race this proves cannot happen there; the conditional writes it relies on are tested on both).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection

from tests.webapp.review_factories import make_dataset, make_question
from webapp.curation.models import Chain, Lease, Review

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def _race(curators: list[User], tmp_path: Path) -> dict[str, list[int]]:
    """Each curator works the queue in its own process, all starting at the same instant; what each claimed."""
    settings = connection.settings_dict
    url = (f"postgres://{settings['USER']}{':' + settings['PASSWORD'] if settings['PASSWORD'] else ''}"
           f"@{settings['HOST']}:{settings['PORT'] or 5432}/{settings['NAME']}")
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    start_at = time.time() + 3.0
    procs = [
        subprocess.Popen([sys.executable, "-m", "tests.webapp.review_race_worker", user.username, str(start_at),
                          str(tmp_path / f"{user.username}.json")], cwd=ROOT, env=env)
        for user in curators
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * len(procs)
    return {u.username: json.loads((tmp_path / f"{u.username}.json").read_text()) for u in curators}


def test_it_never_gives_two_processes_the_same_question(users, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert connection.vendor == "postgresql", "this test proves a PostgreSQL race: run it with DATABASE_URL=postgres"
    curators = [users["curator"]] + [User.objects.create_user(f"cur{i}", password="pw") for i in range(3)]
    ds = make_dataset()
    questions = [make_question(ds, n, chains=3).pk for n in range(1, 41)]
    claimed = _race(curators, tmp_path)
    for a, b in combinations(claimed.values(), 2):
        assert not set(a) & set(b), "two curators held the same question"
    assert sorted(q for qs in claimed.values() for q in qs) == sorted(questions)
    assert sum(1 for qs in claimed.values() if qs) >= 2, f"no real concurrency: {claimed}"
    assert Review.objects.count() == Chain.objects.count() == 120  # none lost, none duplicated
    assert set(Chain.objects.values_list("decision", flat=True)) == {"accepted"}


def test_it_gives_each_overlap_question_to_exactly_two_different_processes(users, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert connection.vendor == "postgresql", "this test proves a PostgreSQL race: run it with DATABASE_URL=postgres"
    curators = [users["curator"]] + [User.objects.create_user(f"cur{i}", password="pw") for i in range(3)]
    ds = make_dataset()
    ds.review_overlap = 2
    ds.save(update_fields=["review_overlap"])
    questions = [make_question(ds, n, chains=2).pk for n in range(1, 21)]
    claimed = _race(curators, tmp_path)
    for qs in claimed.values():
        assert len(qs) == len(set(qs)), "a curator was served the same question twice"
    assert sorted(q for qs in claimed.values() for q in qs) == sorted(questions * 2)  # two curators each
    assert sum(1 for qs in claimed.values() if qs) >= 3, f"no real concurrency: {claimed}"
    assert Lease.objects.filter(completed_at__isnull=False).count() == 40
    pairs = list(Review.objects.values_list("chain_id", "curator_id"))
    assert len(pairs) == len(set(pairs)) == 80  # none lost, none duplicated, one per curator and chain
    assert set(Chain.objects.values_list("decision", flat=True)) == {"accepted"}
