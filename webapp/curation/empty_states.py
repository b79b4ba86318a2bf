"""Why a page is empty, in words: a newcomer who sees "nothing here" must learn what to do next.

"0 of 32 kept" alone cannot tell a strict rule from a teacher that writes noise; "0 of 32 kept: 31 had no answer,
1 wrong answer" can. The review queue's empty *Next* page likewise says which of four different situations it is:
no chains at all, none kept by selection, all decided, or the rest held by other curators.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count
from django.utils import timezone

from webapp.curation.models import Chain, GenerationRun, Lease

# Each teacher drop reason as the tail of "N …" (pipeline.teacher.DROP_REASONS), singular and plural.
_DROPS = {
    "no_answer": ("had no answer", "had no answer"),
    "wrong_answer": ("wrong answer", "wrong answers"),
    "low_agreement": ("too few samples agreed", "too few samples agreed"),
    "not_majority": ("not the majority answer", "not the majority answer"),
    "bad_format": ("not in the <think>/<answer> format", "not in the <think>/<answer> format"),
    "duplicate": ("near-duplicate", "near-duplicates"),
}


def describe_drops(counts: dict[str, int]) -> str:
    """'31 had no answer, 1 wrong answer' (reasons in the order the rules apply; those that dropped none left out)."""
    parts = []
    for reason, (one, many) in _DROPS.items():
        if n := counts.get(reason, 0):
            parts.append(f"{n} {one if n == 1 else many}")
    parts += [f"{n} {reason}" for reason, n in counts.items() if reason and reason not in _DROPS and n]
    return ", ".join(parts)


def kept_summary(kept: int, total: int, dropped: dict[str, int]) -> str:
    """'0 of 32 kept: 31 had no answer, 1 wrong answer'."""
    why = describe_drops(dropped)
    return f"{kept} of {total} kept" + (f": {why}" if why else "")


def is_tiny_model(model: str) -> bool:
    """A tiny random checkpoint of `build_tiny_models`: it exercises the machinery and writes noise."""
    if not model:
        return False
    path = Path(model)
    return path.name.startswith("tiny-") or path.parent == Path(settings.TINY_MODELS_ROOT)


@dataclass(frozen=True)
class EmptyQueue:
    kind: str  # "no-chains" | "none-kept" | "all-decided" | "filtered" | "held"
    message: str


def why_queue_empty(user: AbstractBaseUser, *, dataset_id: int | None = None, filtered: bool = False) -> EmptyQueue:
    """Why *Next* found nothing for this curator (in one dataset, when the queue was filtered to it)."""
    chains = Chain.objects.all() if dataset_id is None else Chain.objects.filter(question__dataset_id=dataset_id)
    where = "" if dataset_id is None else " in this dataset"
    total = chains.count()
    if total == 0:
        return EmptyQueue(
            "no-chains",
            f"There are no chains{where} yet: launch a teacher run, or import chains "
            "generated elsewhere (Runs → Import chains).",
        )
    kept = chains.filter(kept=True).count()
    if kept == 0:
        dropped = dict(chains.values_list("drop_reason").annotate(n=Count("id")))
        return EmptyQueue(
            "none-kept",
            f"No chain{where} survived the teacher's selection ("
            f"{kept_summary(0, total, dropped)}), so there is nothing to review. A tiny "
            "model writes noise: point TEACHER_MODEL at a real checkpoint, or import "
            "chains.",
        )
    pending = chains.filter(kept=True, decision=Chain.Decision.PENDING)
    if not pending.exists():
        return EmptyQueue("all-decided", f"All {kept} kept chains{where} are decided.")
    if filtered:
        return EmptyQueue(
            "filtered",
            f"No pending chain matches these filters; {pending.count()} pending chains{where} lie outside them.",
        )
    questions = pending.values("question").distinct()
    held = (
        Lease.objects.filter(question__in=questions, expires_at__gt=timezone.now())
        .exclude(curator=user)
        .values("question")
        .distinct()
        .count()
    )
    minutes = max(1, round(settings.REVIEW_LEASE_SECONDS / 60))
    return EmptyQueue(
        "held",
        f"The {questions.count()} questions with pending chains{where} are being reviewed "
        f"by other curators ({held} held now) or were already reviewed by you; a lease left "
        f"alone expires after {minutes} minutes and the question comes back.",
    )


def run_notice(run: GenerationRun) -> str:
    """What a teacher run's page must say before anything else: that a tiny model writes noise."""
    if run.kind != GenerationRun.Kind.TEACHER or not is_tiny_model(run.model):
        return ""
    return (
        f"{Path(run.model).name} is a tiny random model, built to exercise the machinery: it writes noise, so "
        "expect few or no chains kept. For real chains set TEACHER_MODEL to a real checkpoint (a local copy of "
        "Qwen/Qwen2.5-VL-7B-Instruct, say, or a hub id) and restart the app, see docs/settings.md; or import "
        "chains generated elsewhere (Runs → Import chains)."
    )
