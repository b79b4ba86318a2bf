"""The one JSONL reader and writer of the pipeline (items, chains, verdicts, exports, predictions).

Why one module: stages hand each other JSONL files, and five readers had drifted apart (blank lines, broken lines
reported with or without their number, an empty file accepted or not). Here blank lines are skipped, a broken line
fails as `path:line: not JSON`, and a writer's cut-off last line is skipped only where the caller says so (resume).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = ["iter_jsonl", "numbered_rows", "read_jsonl", "write_jsonl"]


def iter_jsonl(path: str | os.PathLike[str], *, skip_invalid: bool = False) -> Iterator[dict[str, Any]]:
    """Stream the rows of a JSONL file; `skip_invalid` passes over broken lines (a line cut by a killed writer)."""
    for _, row in numbered_rows(path, skip_invalid=skip_invalid):
        yield row


def numbered_rows(path: str | os.PathLike[str], *, skip_invalid: bool = False) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, row) pairs, for callers that report a bad row by its line."""
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                if skip_invalid:
                    continue
                raise ValueError(f"{path}:{lineno}: not JSON: {exc}") from exc
            yield lineno, row


def read_jsonl(path: str | os.PathLike[str], *, allow_empty: bool = True) -> list[dict[str, Any]]:
    """All rows of a JSONL file; with `allow_empty=False` a file without rows is an error (a stage's input)."""
    rows = list(iter_jsonl(path))
    if not rows and not allow_empty:
        raise ValueError(f"{path}: no rows")
    return rows


def write_jsonl(path: str | os.PathLike[str], rows: Iterable[dict[str, Any]]) -> int:
    """Write rows (UTF-8, one JSON object a line) atomically: readers never see half a file. Returns the count."""
    out = Path(path)
    tmp = out.with_name(out.name + ".tmp")
    n = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(out)
    return n
