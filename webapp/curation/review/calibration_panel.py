"""The dashboard's validator calibration cards: a reliability diagram, the validator against curators, and the
threshold that would reach the target precision — read from the report stored at each refit (review/priority.py),
so the dashboard never reads the decisions themselves."""

from __future__ import annotations

import math
from dataclasses import dataclass

from webapp.curation.models import ValidatorCalibration

SIDE = 200  # the reliability diagram's plot area, in SVG units


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    r: float
    title: str


@dataclass(frozen=True)
class CalibrationCard:
    version: str
    fitted_at: object
    report: dict[str, object]
    points: list[Point]


def _points(report: dict[str, object]) -> list[Point]:
    bins = report.get("reliability") or []
    return [Point(x=round(b["predicted"] * SIDE, 1), y=round((1 - b["observed"]) * SIDE, 1),  # type: ignore[index]
                  r=round(2 + 2 * math.log10(1 + b["n"]), 1),  # type: ignore[index]
                  title=f"predicted {b['predicted']:.2f}, curators found {b['observed']:.2f} "  # type: ignore[index]
                        f"hallucinated (n={b['n']})")  # type: ignore[index]
            for b in bins]  # type: ignore[union-attr]


def calibration_cards(limit: int = 10) -> list[CalibrationCard]:
    """The validator versions refitted most recently, newest first."""
    rows = ValidatorCalibration.objects.order_by("-fitted_at")[:limit]
    return [CalibrationCard(r.validator_version, r.fitted_at, r.report, _points(r.report)) for r in rows]
