"""Training and evaluation runs: launch (a stage config validated before anything is stored), the config a worker
builds for a run, and the environment a result is recorded with. Cancel and resume are `Run`'s (a running stage stops
at its next progress report and saves a checkpoint; a resumed one continues from its last checkpoint-N/).

A run's `config` holds the recipe values merged with the admin's overrides (no machine paths): the worker adds the
paths under its own storage root when it starts, so the same run can execute on any machine that sees the storage.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from webapp.core import storage
from webapp.training.models import TrainingRun
from webapp.training.recipes import PATH_FIELDS, LaunchError, load_recipe

PACKAGES = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "pyarrow", "django", "rq")
EVAL_DEFAULTS = {"max_new_tokens": 64, "batch_size": 8}


def config_class(stage: str) -> type:
    if stage == TrainingRun.Stage.SFT:
        from pipeline.sft import SFTStageConfig

        return SFTStageConfig
    if stage == TrainingRun.Stage.GRPO:
        from pipeline.grpo import GRPOStageConfig

        return GRPOStageConfig
    from pipeline.evaluate import EvalConfig

    return EvalConfig


def stage_config(run: TrainingRun, *, resume: bool = False, check_only: bool = False) -> Any:
    """The pipeline config object for a run: stored values plus this machine's paths."""
    cls = config_class(run.stage)
    values = {k: v for k, v in run.config.items() if not k.startswith("_")}
    out = storage.resolve(run.output_dir) if run.pk else Path("/nonexistent")
    paths: dict[str, Any] = {"model_name_or_path": run.base_model, "output_dir": str(out),
                             "media_root": str(storage.root())}
    adapter = str(storage.resolve(run.parent.checkpoint_path)) if run.parent and run.parent.checkpoint_path else None
    if run.stage == TrainingRun.Stage.EVAL:
        paths["items_file"] = str(out / "items.jsonl")
        paths["adapter"] = adapter
    else:
        export = run.snapshot.export_dir if run.snapshot else ""
        name = {"grpo": "grpo.jsonl"}.get(run.stage) or (
            "sft_label_only.jsonl" if run.config.get("_targets") == "label_only" else "sft.jsonl")
        paths["train_file"] = str(storage.resolve(f"{export}/{name}")) if export and not check_only else "x.jsonl"
        paths["resume"] = resume
        if run.stage == TrainingRun.Stage.GRPO:
            paths["adapter"] = adapter
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise LaunchError(f"unknown {cls.__name__} field(s) {unknown}; valid fields: {sorted(known - PATH_FIELDS)}")
    try:
        return cls(**{**values, **paths})
    except (TypeError, ValueError) as exc:
        raise LaunchError(str(exc)) from exc


def launch(data: dict[str, Any], user: AbstractBaseUser | None) -> TrainingRun:
    """Validate the stage config (recipe + overrides) before anything is stored, then queue the run on `gpu`."""
    run = launch_check(data)
    run.created_by = user
    with transaction.atomic():
        run.save()
        run.enqueue()
    return run


def launch_check(data: dict[str, Any]) -> TrainingRun:
    """The unsaved run a launch would create; raises LaunchError when its stage config is invalid."""
    stage = data["stage"]
    overrides = data.get("overrides") or {}
    bad = sorted(set(overrides) & PATH_FIELDS)
    if bad:
        raise LaunchError(f"overrides may not set {bad}: the run's paths come from its base model, parent and snapshot")
    values = {**(load_recipe(data["recipe"]) if data.get("recipe") else {}), **overrides}
    if stage == TrainingRun.Stage.EVAL:
        values = {**EVAL_DEFAULTS, **values}
    parent: TrainingRun | None = data.get("parent")
    base_model = parent.base_model if parent else data["base_model"]
    extra = {"_targets": data.get("targets") or "chains"}
    if stage == TrainingRun.Stage.EVAL:
        extra["_eval"] = {"dataset": data["eval_dataset"].pk if data.get("eval_dataset") else None,
                          "split": data.get("eval_split") or "", "limit": data.get("eval_limit")}
    run = TrainingRun(stage=stage, name=data.get("name") or "", base_model=base_model, parent=parent,
                      snapshot=data.get("snapshot"), recipe=data.get("recipe") or "", config={**values, **extra},
                      )
    stage_config(run, check_only=True)  # raises LaunchError with the field at fault
    return run


def environment() -> dict[str, Any]:
    """What a result depends on besides its config: package versions, git commit, hardware."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=settings.BASE_DIR, capture_output=True,
                                text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = None
    gpus: list[str] = []
    try:
        import torch

        if torch.cuda.is_available():
            gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:  # pragma: no cover - torch is a pinned dependency
        pass
    return {"python": platform.python_version(), "packages": versions, "git_commit": commit,
            "hostname": platform.node(), "cpu_count": os.cpu_count(), "cuda_devices": gpus,
            "platform": platform.platform()}


def lineage(run: TrainingRun) -> list[TrainingRun]:
    """The run and its parents, newest first (e.g. eval ← GRPO ← SFT)."""
    chain, seen = [], set()
    while run is not None and run.pk not in seen:
        chain.append(run)
        seen.add(run.pk)
        run = run.parent
    return chain
