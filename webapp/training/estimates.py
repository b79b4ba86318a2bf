"""How long a training run will take on this deployment, before it is launched (webapp/core/estimates.py).

Every SFT and GRPO attempt stores the optimizer steps per second it measured (`progress_metrics["steps_per_s"]`,
webapp/training/jobs.py); the run's length is its `max_steps` (the recipe's, or the override's). GRPO steps cost
rollouts too, so the reference is the newest finished run of the same stage, of the same base model when one has
run. Evaluations measure no rate yet, so they get no estimate.
"""

from __future__ import annotations

import json
from typing import Any

from webapp.core.estimates import NO_REFERENCE, duration_text
from webapp.core.models import RunStatus
from webapp.training.models import TrainingRun
from webapp.training.recipes import LaunchError, load_recipe


def measured(stage: str, base_model: str = "") -> TrainingRun | None:
    """The newest succeeded run of `stage` that recorded its steps/s, preferring one of the same base model."""
    runs = TrainingRun.objects.filter(stage=stage, status=RunStatus.SUCCEEDED,
                                      progress_metrics__has_key="steps_per_s").order_by("-finished_at", "-pk")
    return (runs.filter(base_model=base_model).first() if base_model else None) or runs.first()


def _overrides(raw: object) -> dict[str, Any]:
    """What the admin typed so far, when it already parses (the form validates it properly on launch)."""
    try:
        value = json.loads(str(raw or "").strip() or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def training_estimate(stage: object, recipe: object, overrides: object, base_model: object = "") -> str:
    if stage not in (TrainingRun.Stage.SFT, TrainingRun.Stage.GRPO):
        return ""
    try:
        values = load_recipe(str(recipe)) if recipe else {}
    except LaunchError:
        values = {}
    steps = _overrides(overrides).get("max_steps", values.get("max_steps"))
    if not isinstance(steps, int) or steps < 1:
        return ""
    reference = measured(str(stage), str(base_model or ""))
    if reference is None:
        return NO_REFERENCE
    return duration_text(steps, "steps", float(reference.progress_metrics.get("steps_per_s") or 0),
                         f"training run #{reference.pk}")
