"""Suite-wide rules: a tier that skips a test fails (SIGHTSOUND_FAIL_ON_SKIP=1, set by scripts/test.sh),
so a missing dependency can never hide behind a green run."""

from __future__ import annotations

import os

import pytest

_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("SIGHTSOUND_FAIL_ON_SKIP") == "1" and _skipped and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus: int) -> None:  # type: ignore[no-untyped-def]
    if os.environ.get("SIGHTSOUND_FAIL_ON_SKIP") == "1" and _skipped:
        terminalreporter.write_line(f"FAIL: {len(_skipped)} test(s) skipped in a tier that must run them:", red=True)
        for nodeid in _skipped:
            terminalreporter.write_line(f"  {nodeid}", red=True)
