"""How long a run will take, said the same way on every launch form: an amount of work at a measured rate.

The rates come from earlier runs of this deployment (each app measures its own: chains/s for teacher and validation
runs, optimizer steps/s for training), so the estimate follows the real hardware and models, and names the run it
was measured in so an admin can judge whether that run is comparable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from pipeline.hardware import gpu_count
from webapp.core.models import RunStatus

NO_REFERENCE = "No earlier run to estimate from: the first run measures this deployment's throughput."


def duration_text(amount: int, unit: str, rate: float, reference: str) -> str:
    """'2,048 chains: about 14 min at the 2.4 chains/s measured in run #7'.

    >>> duration_text(2048, "chains", 2.4, "run #7")
    '2,048 chains: about 14 min at the 2.4 chains/s measured in run #7.'
    >>> duration_text(30, "steps", 1.5, "training run #3")
    '30 steps: under a minute at the 1.5 steps/s measured in training run #3.'
    >>> duration_text(100_000, "steps", 0.5, "training run #3")
    '100,000 steps: about 55.6 h at the 0.5 steps/s measured in training run #3.'
    """
    if rate <= 0:
        return NO_REFERENCE
    return f"{amount:,} {unit}: {span(amount / rate)} at the {rate:g} {unit}/s measured in {reference}."


def span(seconds: float) -> str:
    """'about 14 min', 'about 2.5 h', 'under a minute'."""
    minutes = seconds / 60
    return (f"about {minutes / 60:,.1f} h" if minutes >= 120 else f"about {minutes:.0f} min" if minutes >= 1
            else "under a minute")


@dataclass(frozen=True)
class Reference:
    """A measured (or documented) rate on one class of worker, and where it comes from."""

    worker_class: str  # "" for a run from before classes were recorded
    rate: float
    basis: str  # "run #7", "docs/gpu.md (…)"

    def where(self) -> str:
        return f"{self.basis} ({self.worker_class})" if self.worker_class else self.basis


def newest_per_class(runs: Iterable[Any], metric: str, label: Callable[[Any], str]) -> list[Reference]:
    """From runs newest first: the newest rate of `metric` on each worker class, newest class first."""
    seen: dict[str, Reference] = {}
    for run in runs:
        rate = float((run.progress_metrics or {}).get(metric) or 0)
        if rate > 0 and run.worker_class not in seen:
            seen[run.worker_class] = Reference(run.worker_class, rate, label(run))
    return list(seen.values())


HISTORY = 200  # finished runs read for references (newest first)


def newest_rates(runs: QuerySet[Any], metric: str, label: Callable[[Any], str],
                 same: dict[str, str]) -> list[Reference]:
    """The newest rate of `metric` per worker class among the succeeded `runs` that match `same` (the same model,
    when one is named), else among all of them."""
    runs = runs.filter(status=RunStatus.SUCCEEDED, progress_metrics__has_key=metric).order_by("-finished_at", "-pk")
    found = newest_per_class(runs.filter(**same)[:HISTORY], metric, label) if all(same.values()) else []
    return found or newest_per_class(runs[:HISTORY], metric, label)


def _gpu_hours(seconds: float, worker_class: str) -> str:
    gpus = gpu_count(worker_class)
    return f" ({seconds / 3600 * gpus:,.1f} GPU-hours)" if gpus and seconds >= 360 else ""


def describe(amount: int, unit: str, references: Sequence[Reference], full: int | None = None) -> str:
    """One line per worker class: the run's length there (GPU-hours on GPU classes), and at full size when the run
    is limited to part of its data. The first line alone is what a deployment with one class of worker sees.

    >>> print(describe(120, "chains", [Reference("", 0.05, "run #7")]))
    120 chains: about 40 min at the 0.05 chains/s measured in run #7.
    >>> line = describe(800, "chains", [Reference("NVIDIA H200 ×1", 1.43, "run #9")], full=360_000)
    >>> print(line.replace("; ", chr(10)))
    800 chains: about 9 min at the 1.43 chains/s measured in run #9 (NVIDIA H200 ×1) (0.2 GPU-hours)
    full size, 360,000 chains: about 69.9 h (69.9 GPU-hours).
    """
    if not references:
        return NO_REFERENCE
    lines = []
    for ref in references:
        seconds = amount / ref.rate
        line = duration_text(amount, unit, ref.rate, ref.where())[:-1] + _gpu_hours(seconds, ref.worker_class)
        if full and full > amount:
            whole = full / ref.rate
            line += f"; full size, {full:,} {unit}: {span(whole)}{_gpu_hours(whole, ref.worker_class)}"
        lines.append(line + ".")
    return "\n".join(lines)


def record(amount: int, unit: str, references: Sequence[Reference]) -> dict[str, Any]:
    """What a launch keeps on its run, so its page can set the estimate beside what the run took."""
    return {"amount": amount, "unit": unit,
            "by_class": {r.worker_class: {"seconds": round(amount / r.rate, 1), "rate": r.rate, "basis": r.basis}
                         for r in references}}


def versus(run: Any) -> str:
    """The launch's estimate beside what the run took, on the class of worker it ran on ("" without an estimate)."""
    by_class = (run.estimate or {}).get("by_class") or {}
    if not by_class or not run.worker_class and "" not in by_class:
        return ""
    chosen = by_class.get(run.worker_class) or (by_class.get("") if "" in by_class else None)
    where = f" on {run.worker_class}" if run.worker_class else ""
    if chosen is None:
        return (f"No estimate for {run.worker_class}: the launch estimated only for "
                + ", ".join(sorted(c or "this deployment" for c in by_class)) + ".")
    estimated = f"Estimated {span(chosen['seconds'])}{where} (from {chosen['basis']})"
    if run.status != "succeeded" or not (run.started_at and run.finished_at):
        return estimated + "."
    took = (run.finished_at - run.started_at).total_seconds()
    partial = " (its latest attempt; earlier ones did part of the work)" if run.attempt > 1 else ""
    return f"{estimated}; took {span(took)}{partial}: {took / max(chosen['seconds'], 1e-9):.2f}× the estimate."


def estimate_fragment(request: HttpRequest, estimate: str) -> HttpResponse:
    """The estimate alone, which a launch form asks for again whenever one of its fields changes (`_estimate.html`)."""
    return render(request, "_estimate.html", {"estimate": estimate})
