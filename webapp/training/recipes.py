"""The training recipes (recipes/*.yaml): the named starting points an admin picks, and what a launch may override.

A recipe holds hyper-parameters only: the paths a stage reads and writes are the web app's to fill in per run
(PATH_FIELDS), so neither a recipe nor an override can point a run at other files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings

RECIPES_DIR = Path(settings.BASE_DIR) / "recipes"
# Fields the web app fills in per run; an override may not point a run at other files.
PATH_FIELDS = {"model_name_or_path", "train_file", "items_file", "output_dir", "media_root", "adapter", "resume",
               "val_file"}


class LaunchError(ValueError):
    """A launch request that cannot make a valid stage config; the message says which field and why."""


def recipe_names(stage: str | None = None) -> list[str]:
    names = sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))
    return [n for n in names if stage is None or n.startswith(f"{stage}_")]


def load_recipe(name: str) -> dict[str, Any]:
    import yaml

    if name not in recipe_names():
        raise LaunchError(f"unknown recipe {name!r}; known: {recipe_names()}")
    values = yaml.safe_load((RECIPES_DIR / f"{name}.yaml").read_text()) or {}
    return {k: v for k, v in values.items() if k not in PATH_FIELDS}
