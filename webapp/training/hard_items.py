"""Hard items back to review: the questions an evaluation's student got wrong, sent to a review filter with what it
answered, so curators look again at the chains it learned from (or will learn from) where it fails.

Why never the test split: a test split stays unseen — reviewing, editing and retraining on the items a model failed
there would tune the data to the test set. Evaluations on a training or validation split (or in-sample on a
snapshot) may send theirs. "Wrong, but right with the audio silenced" marks the misses where the sound led the
student astray: what it heard, or what the chains taught it to claim, is the first suspect.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pipeline.answers import extract_open_answer
from webapp.catalog.models import Question
from webapp.core import storage
from webapp.curation.models import StudentMiss
from webapp.training.models import TrainingRun

BATCH = 1000


class NotSendable(ValueError):
    """Why this evaluation cannot send its misses to review (a test split, no predictions)."""


@dataclass(frozen=True)
class Sent:
    wrong: int
    silent_only: int
    unknown: int  # predictions whose question is no longer in the database

    @property
    def total(self) -> int:
        return self.wrong + self.silent_only


def refusal(run: TrainingRun) -> str | None:
    """Why the run's misses may not go to review, or None."""
    if run.stage != TrainingRun.Stage.EVAL or not run.results.get("predictions"):
        return "only a finished evaluation with predictions has misses to send"
    spec = run.config.get("_eval") or {}
    if spec.get("dataset") and (spec.get("split") or "") in ("", "test"):
        return ("the test split stays unseen: its misses are not sent to review (evaluate on a training or "
                "validation split to find hard items)") if spec.get("split") == "test" else \
            "the evaluation covered every split, test included: choose a training or validation split"
    return None


def _question_id(row: dict[str, Any]) -> int | None:
    value = row.get("question_id", row.get("id"))
    if isinstance(value, str) and value.startswith("q"):
        value = value[1:]
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _misses(path: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                row = json.loads(line)
            except ValueError:
                continue  # a line cut off by a stopped writer: the predictions page reports those
            qid = _question_id(row)
            if qid is not None and row.get("correct") is False:
                yield qid, row


def _answer(row: dict[str, Any]) -> str:
    return (extract_open_answer(str(row.get("completion") or "")) or "")[:200]


def send_to_review(run: TrainingRun) -> Sent:
    """Store the run's misses (idempotent: sending twice adds nothing); NotSendable when `refusal` says so."""
    why = refusal(run)
    if why:
        raise NotSendable(why)
    label = f"evaluation #{run.pk}" + (f" ({run.config['_eval'].get('split')})"
                                       if (run.config.get("_eval") or {}).get("split") else "")
    counts = {StudentMiss.Kind.WRONG: 0, StudentMiss.Kind.SILENT_ONLY: 0}
    unknown = 0
    batch: list[tuple[int, dict[str, Any]]] = []

    def flush() -> None:
        nonlocal unknown
        known = set(Question.objects.filter(pk__in=[q for q, _r in batch]).values_list("pk", flat=True))
        rows = []
        for qid, row in batch:
            if qid not in known:
                unknown += 1
                continue
            kind = StudentMiss.Kind.SILENT_ONLY if row.get("correct_silent") is True else StudentMiss.Kind.WRONG
            counts[kind] += 1
            rows.append(StudentMiss(evaluation_id=run.pk, evaluation_label=label, question_id=qid, kind=kind,
                                    answer=_answer(row), completion=str(row.get("completion") or ""),
                                    completion_silent=str(row.get("completion_silent") or "")))
        StudentMiss.objects.bulk_create(rows, ignore_conflicts=True)
        batch.clear()

    for item in _misses(storage.resolve(run.results["predictions"])):
        batch.append(item)
        if len(batch) >= BATCH:
            flush()
    flush()
    return Sent(counts[StudentMiss.Kind.WRONG], counts[StudentMiss.Kind.SILENT_ONLY], unknown)
