"""MMAU's own scoring rule, so the number the app shows is the number the benchmark's leaderboard would.

The official scorer (MMAU's `evaluation.py`, github.com/Sakshi113/MMAU) reads each row's `model_output` and counts
it correct when (1) every word token of the answer appears in the output and (2) no token that belongs only to a
wrong choice does; tokens are lower-cased `\\b\\w+\\b` runs. Rows without a `model_output` key are skipped, not
counted wrong. We write `model_output` as the extracted `<answer>` mapped to its choice text when the prompt
lettered the choices (so "C" is scored as the choice it names, not as the token "c"), with the raw completion
kept beside it; `score_rows` applies the rule and reports task, difficulty and sub-category accuracy as the
official script prints them.

The test-mini annotations were revised several times (the revised release is `MMAU-v05.15.25`); which revision a
file is matters when comparing with published numbers, so `annotation_version` names it by a content fingerprint.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.answers import extract_answer, extract_open_answer

__all__ = [
    "MmauScore", "annotation_version", "format_report", "load_predictions", "model_output", "official_match",
    "score_rows",
]

_TOKEN = re.compile(r"\b\w+\b")

# Fingerprint (see `annotation_version`) -> (release, date of that revision of mmau-test-mini.json upstream).
KNOWN_REVISIONS: dict[str, tuple[str, str]] = {
    "2f7a8b1d96abe8ff": ("test-mini original", "2024-10-25"),
    "3a0a6eadab2ecdd0": ("test-mini original (corrected)", "2024-12-09"),
    "ffad8d2154aac27e": ("test-mini original (corrected)", "2025-01-28"),
    "65a7702513f72f0b": ("test-mini original (corrected)", "2025-03-25"),
    "6dfa98e1160e61db": ("test-mini v05.15.25", "2025-05-15"),
    "7d7913661a8259ee": ("test-mini v05.15.25", "2025-05-16"),
    "4fa425008b18fa0b": ("test-mini v05.15.25", "2025-05-18"),
    "7ae67643754b3df7": ("test-mini v05.15.25", "2025-05-19"),
    "14d14b6021580933": ("test-mini v05.15.25", "2025-05-22"),
    "3124decbeba35a2d": ("test-mini v05.15.25", "2025-05-30"),
    "fce2a4602b3fd0e0": ("test-mini v05.15.25", "2025-06-23"),
    "fd9a12fa69e3446c": ("test-mini v05.15.25", "2025-06-23"),
    "be711248bfb6e1f4": ("test-mini v05.15.25", "2025-08-09"),
}


def _tokens(text: str) -> set[str]:
    return set(_TOKEN.findall(str(text).lower()))


def official_match(answer: str, prediction: str, choices: Sequence[str]) -> bool:
    """MMAU's rule: all answer tokens present, and no token found only in a wrong choice.

    >>> ch = ["Man", "Woman", "Child", "Robot"]
    >>> official_match("Woman", "It is a woman speaking", ch), official_match("Woman", "a man or a woman", ch)
    (True, False)
    >>> official_match("Woman", "", ch)
    False
    """
    predicted, wanted = _tokens(prediction), _tokens(answer)
    if not predicted:
        return False
    wrong: set[str] = set()
    for choice in choices:
        tokens = _tokens(choice)
        if tokens != wanted:
            wrong |= tokens - wanted
    return wanted <= predicted and predicted.isdisjoint(wrong)


def model_output(completion: str, choices: Sequence[str], *, lettered: bool = True) -> str:
    """What we hand the official rule: the chosen option's text when our parser reads one, else the final answer
    as written, else "" (no answer: scored wrong).

    >>> model_output("<think>a high note</think><answer>C</answer>", ["C", "D", "E", "F"])
    'E'
    >>> model_output("<answer>probably a violin</answer>", ["violin", "cello"], lettered=False)
    'violin'
    >>> model_output("no idea", ["violin", "cello"])
    ''
    """
    index = extract_answer(completion, choices, lettered=lettered)
    if index is not None:
        return str(choices[index])
    return extract_open_answer(completion) or ""


@dataclass
class MmauScore:
    """Counts as the official script keeps them: [correct, total] per task, difficulty and sub-category."""

    correct: int = 0
    total: int = 0
    skipped: int = 0  # rows without model_output: the official script leaves them out
    task: dict[str, list[int]] = field(default_factory=dict)
    difficulty: dict[str, list[int]] = field(default_factory=dict)
    sub_category: dict[str, list[int]] = field(default_factory=dict)
    matches: list[bool] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else float("nan")


def _count(table: dict[str, list[int]], key: Any, hit: bool) -> None:
    if key is None:
        return
    key = key[0] if isinstance(key, list) and len(key) == 1 else key
    cell = table.setdefault(str(key), [0, 0])
    cell[0] += int(hit)
    cell[1] += 1


def score_rows(rows: Iterable[dict[str, Any]]) -> MmauScore:
    """Apply the official rule to prediction rows (MMAU annotation fields plus `model_output`)."""
    score = MmauScore()
    for row in rows:
        if "model_output" not in row:
            score.skipped += 1
            continue
        hit = official_match(row["answer"], row["model_output"] or "", row["choices"])
        score.matches.append(hit)
        score.correct += int(hit)
        score.total += 1
        _count(score.task, row.get("task"), hit)
        _count(score.difficulty, row.get("difficulty"), hit)
        _count(score.sub_category, row.get("sub-category"), hit)
    return score


def load_predictions(path: str | Path) -> list[dict[str, Any]]:
    """A predictions file as the official script takes it (one JSON list) or as our evaluation writes it (JSONL)."""
    text = Path(path).read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        return json.loads(text)
    from pipeline.jsonl import read_jsonl

    return read_jsonl(path)


def format_report(score: MmauScore) -> str:
    """The figures in the order and units (percent over n samples) the official script prints them."""
    lines: list[str] = []
    for title, table in (("Task-wise", score.task), ("Difficulty-wise", score.difficulty),
                         ("Sub-category-wise", score.sub_category)):
        lines += ["*" * 30, f"{title} Accuracy:"]
        for key in sorted(table):
            ok, n = table[key]
            lines.append(f"{key} : {100 * ok / n if n else 0:.2f}% over {n} samples")
    total = 100 * score.correct / score.total if score.total else 0.0
    lines += ["*" * 30, f"Total Accuracy: {total:.2f}% over {score.total} samples", "*" * 30,
              f"Rows without model_output (skipped, as the official script does): {score.skipped}"]
    return "\n".join(lines)


def fingerprint(rows: Iterable[dict[str, Any]]) -> str:
    """Content fingerprint of an annotation file: its (id, question, choices, answer) rows, sorted by id."""
    canon = sorted([r.get("id"), r.get("question"), r.get("choices"), r.get("answer")] for r in rows)
    return hashlib.sha256(json.dumps(canon, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()[:16]


def annotation_version(rows: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Which revision of MMAU test-mini these annotations are: release, revision date and fingerprint.

    A file matching no known revision (the full test set, a later upstream edit, a local fix) is named so.
    """
    fp = fingerprint(rows)
    release, date = KNOWN_REVISIONS.get(fp, ("unrecognised revision", ""))
    return {"release": release, "revision_date": date, "fingerprint": fp}
