"""How long a run will take, said the same way on every launch form: an amount of work at a measured rate.

The rates come from earlier runs of this deployment (each app measures its own: chains/s for teacher and validation
runs, optimizer steps/s for training), so the estimate follows the real hardware and models, and names the run it
was measured in so an admin can judge whether that run is comparable.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

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
    minutes = amount / rate / 60
    took = (f"about {minutes / 60:.1f} h" if minutes >= 120 else f"about {minutes:.0f} min" if minutes >= 1
            else "under a minute")
    return f"{amount:,} {unit}: {took} at the {rate:g} {unit}/s measured in {reference}."


def estimate_fragment(request: HttpRequest, estimate: str) -> HttpResponse:
    """The estimate alone, which a launch form asks for again whenever one of its fields changes (`_estimate.html`)."""
    return render(request, "_estimate.html", {"estimate": estimate})
