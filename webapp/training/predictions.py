"""A page of an evaluation's predictions.jsonl without parsing the whole file on every view.

A predictions file holds every scored item (17k for AVQA val) with its completion, and the page shows 50. Reading
it whole on each view made a page cost the file. Now one pass records where each line starts and whether it was
right (the index, a few bytes a line, kept in Django's cache under the file's path, size and mtime, so a rewritten
file, as a resumed evaluation writes, gets a new one); a page then seeks to its own lines and parses only those.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.cache import cache

SHOWS = ("all", "wrong", "right")
CACHE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class LineIndex:
    """Byte offsets of the rows each filter shows, and how many lines could not be read (a writer cut off)."""

    offsets: dict[str, array]
    unreadable: int = 0


def build_index(path: Path) -> LineIndex:
    """One pass over the file: the offset of every row, split by `correct`; blank and broken lines are skipped."""
    offsets = {show: array("q") for show in SHOWS}
    unreadable = 0
    with path.open("rb") as fh:
        start = 0
        for line in fh:
            if line.strip():
                try:
                    row = json.loads(line)
                except ValueError:
                    unreadable += 1
                else:
                    offsets["all"].append(start)
                    if isinstance(row.get("correct"), bool):  # always, from pipeline.scoring; else in "all" only
                        offsets["right" if row["correct"] else "wrong"].append(start)
            start += len(line)
    return LineIndex(offsets, unreadable)


def line_index(path: Path) -> LineIndex:
    """The file's index, built once per version of the file (path, size, mtime) and then read from the cache."""
    stat = path.stat()
    version = f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    key = "predictions-index:" + hashlib.sha256(version.encode()).hexdigest()
    index = cache.get(key)
    if index is None:
        index = build_index(path)
        cache.set(key, index, CACHE_SECONDS)
    return index


class PredictionRows:
    """The rows one filter shows, as a sequence a Paginator slices: only the lines of the slice are read."""

    def __init__(self, path: Path, offsets: array) -> None:
        self.path, self.offsets = path, offsets

    def __len__(self) -> int:
        return len(self.offsets)

    def __getitem__(self, key: slice) -> list[dict[str, Any]]:
        rows = []
        with self.path.open("rb") as fh:
            for start in self.offsets[key]:
                fh.seek(start)
                rows.append(json.loads(fh.readline()))
        return rows


def rows(path: Path, show: str) -> tuple[PredictionRows, int]:
    """The rows `show` selects ("all", "wrong" or "right"), and the count of unreadable lines left out."""
    index = line_index(path)
    return PredictionRows(path, index.offsets[show]), index.unreadable
