"""The `faults` tier: real faults in real processes (PostgreSQL only), and the summary table it prints."""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.webapp.faults.harness import OUTCOMES


@pytest.fixture(autouse=True)
def _postgres_only() -> None:
    engine = settings.DATABASES["default"]["ENGINE"]
    assert "postgresql" in engine, "the faults tier runs on PostgreSQL only: set DATABASE_URL=postgres://..."


def summary_table() -> list[str]:
    rows = ["| job kind | fault | injected | recovered | lost | duplicated |", "|---|---|---|---|---|---|"]
    for o in OUTCOMES:
        rows.append(f"| {o.kind} | {o.fault} | {o.injected} | {o.recovered} | {o.lost} | {o.duplicated} |")
    total = [sum(getattr(o, f) for o in OUTCOMES) for f in ("injected", "recovered", "lost", "duplicated")]
    rows.append(f"| **all** | | {total[0]} | {total[1]} | {total[2]} | {total[3]} |")
    return rows


def pytest_terminal_summary(terminalreporter, exitstatus: int) -> None:  # type: ignore[no-untyped-def]
    if OUTCOMES:
        terminalreporter.write_sep("=", "fault injection summary")
        for line in summary_table():
            terminalreporter.write_line(line)
