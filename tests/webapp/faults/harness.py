"""Kill a real work-horse at a named failpoint, recover the way an operator would, and compare end states.

A scenario's end state is a dict keyed by natural keys (never database ids), so a faulted run can be compared
with an uninterrupted reference run of the same work: the same keys (none lost), no key twice (none duplicated),
the same values (floats within 1e-6). Every comparison is recorded for the summary table that the tier prints
(`conftest.py`) and docs/reliability.md reproduces.
"""

from __future__ import annotations

import io
import math
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from django.core.management import call_command

from tests.webapp.workers import start_worker, wait_for
from webapp.core.failpoints import ENV, FILE_ENV

TOLERANCE = 1e-6


@dataclass
class Outcome:
    kind: str
    fault: str
    injected: int = 0
    recovered: int = 0
    lost: int = 0
    duplicated: int = 0
    differing: list[str] = field(default_factory=list)


OUTCOMES: list[Outcome] = []


def kill_at(point: str, tmp_path: Path, *queues: str) -> str:
    """Run a burst worker on `queues` until a work-horse reaches `point` ("name:n"); SIGKILL that horse, let the
    worker drain the rest and exit. Returns the failpoint line the horse wrote."""
    latch = tmp_path / f"failpoint-{point.replace(':', '-')}"
    latch.unlink(missing_ok=True)
    latch.with_name(latch.name + ".taken").unlink(missing_ok=True)
    worker = start_worker(*queues, capture=True, **{ENV: point, FILE_ENV: str(latch)})
    try:
        wait_for(lambda: latch.exists() and len(latch.read_text().split()) == 2, worker, f"reached {point}",
                 timeout=300)
        line = latch.read_text()
        horse = psutil.Process(int(line.split()[1]))
        assert horse.ppid() == worker.pid, "the failpoint was reached outside a work-horse"
        os.kill(horse.pid, signal.SIGKILL)
        worker.wait(timeout=300)
    finally:
        if worker.poll() is None:
            worker.kill()
    return line


def recover() -> str:
    """What an operator (or the next page view) does after a crash: fail orphaned runs, requeue stuck clips."""
    out = io.StringIO()
    call_command("recover_jobs", stdout=out)
    return out.getvalue()


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=0, abs_tol=TOLERANCE) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def compare(kind: str, fault: str, reference: list[tuple[Any, Any]], faulted: list[tuple[Any, Any]],
            recovered: bool) -> Outcome:
    """(key, value) rows of the reference and the faulted run → an Outcome, recorded for the summary."""
    ref, got = dict(reference), dict(faulted)
    assert len(ref) == len(reference), f"{kind}: the reference itself repeats a key"
    outcome = Outcome(kind, fault, injected=1, recovered=int(recovered), lost=len(ref.keys() - got.keys()),
                      duplicated=len(faulted) - len(got) + len(got.keys() - ref.keys()))
    outcome.differing = [repr(k) for k in ref.keys() & got.keys() if not _same(ref[k], got[k])][:5]
    OUTCOMES.append(outcome)
    return outcome


def assert_identical(outcome: Outcome) -> None:
    assert outcome.recovered, f"{outcome.kind} at {outcome.fault}: did not finish after recovery"
    assert (outcome.lost, outcome.duplicated, outcome.differing) == (0, 0, []), outcome


def settle(seconds: float = 0.2) -> None:
    """Let a killed horse's worker record the failure before recovery looks (RQ moves it to the failed registry)."""
    time.sleep(seconds)


def kill_and_recover(point: str, tmp_path: Path, *queues: str) -> str:
    """`kill_at`, then what an operator does next: let RQ record the death and run `recover_jobs` (its report)."""
    kill_at(point, tmp_path, *queues)
    settle()
    return recover()
