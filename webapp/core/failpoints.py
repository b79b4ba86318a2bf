"""Named points where the fault-injection suite stops a job, so it can kill the work-horse exactly there.

`SIGHTSOUND_FAILPOINT=<name>:<n>` in a worker's environment makes the n-th pass of this process through
`failpoint(name)` create the file named by `SIGHTSOUND_FAILPOINT_FILE` (holding `<name>:<n> <pid>`) and then block
while the file exists: the suite SIGKILLs the process there, or breaks something else (Redis, the database
connection) and deletes the file to let it run into the fault (tests/webapp/faults, docs/reliability.md). Only
the first process to get there blocks, so one fault is injected per scenario. Without the variable (every
deployment) a failpoint is one environment lookup. Points sit just after a batch committed (or, for a clip,
between its steps), where a real crash would leave the most half-done work behind.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

ENV, FILE_ENV = "SIGHTSOUND_FAILPOINT", "SIGHTSOUND_FAILPOINT_FILE"
_passes: dict[str, int] = {}


def failpoint(name: str) -> None:
    spec = os.environ.get(ENV)
    if not spec:
        return
    target, _, nth = spec.rpartition(":")
    if target != name:
        return
    _passes[name] = _passes.get(name, 0) + 1
    if _passes[name] != int(nth):
        return
    latch = Path(os.environ[FILE_ENV])
    taken = latch.with_name(latch.name + ".taken")
    if taken.exists():
        return
    taken.touch()
    latch.write_text(f"{spec} {os.getpid()}")
    while latch.exists():  # held here until killed, or released into the fault the suite made
        time.sleep(0.1)
