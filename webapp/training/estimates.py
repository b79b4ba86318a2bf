"""How long a training run will take on this deployment, before it is launched (webapp/core/estimates.py).

Every SFT, GRPO and DPO attempt stores the optimizer steps per second it measured (`progress_metrics["steps_per_s"]`,
webapp/training/jobs.py) and the machine class it ran on; the run's length is its `max_steps` (the recipe's, or the
override's). GRPO steps cost rollouts too, so references are runs of the same stage, of the same base model when one
has run: one line per worker class, GPU-hours on GPU classes, and for a 7B student the GPUs not used here yet from
docs/gpu.md (webapp/core/gpu_reference.py). Evaluations measure no rate yet, so they get no estimate.
"""

from __future__ import annotations

import json
from typing import Any

from webapp.core.estimates import Reference, describe, newest_rates, record
from webapp.core.gpu_reference import documented
from webapp.training.models import TrainingRun
from webapp.training.recipes import LaunchError, load_recipe


def references(stage: str, base_model: str = "") -> list[Reference]:
    found = newest_rates(TrainingRun.objects.filter(stage=stage), "steps_per_s", lambda run: f"training run #{run.pk}",
                         {"base_model": base_model})
    return found + documented(stage, base_model, [r.worker_class for r in found])


def _overrides(raw: object) -> dict[str, Any]:
    """What the admin typed so far, when it already parses (the form validates it properly on launch)."""
    try:
        value = json.loads(str(raw or "").strip() or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _steps(stage: object, recipe: object, overrides: object) -> int | None:
    if stage not in (TrainingRun.Stage.SFT, TrainingRun.Stage.GRPO, TrainingRun.Stage.DPO):
        return None
    try:
        values = load_recipe(str(recipe)) if recipe else {}
    except LaunchError:
        values = {}
    steps = _overrides(overrides).get("max_steps", values.get("max_steps"))
    return steps if isinstance(steps, int) and steps >= 1 else None


def training_estimate(stage: object, recipe: object, overrides: object, base_model: object = "") -> str:
    steps = _steps(stage, recipe, overrides)
    return "" if steps is None else describe(steps, "steps", references(str(stage), str(base_model or "")))


def training_record(stage: object, recipe: object, overrides: object, base_model: object = "") -> dict[str, Any]:
    steps = _steps(stage, recipe, overrides)
    return {} if steps is None else record(steps, "steps", references(str(stage), str(base_model or "")))
