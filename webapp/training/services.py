"""Training and evaluation runs: launch (validated stage config), cancel, resume, environment, comparison.

A run's `config` holds the recipe values merged with the admin's overrides (no machine paths): the worker adds the
paths under its own storage root when it starts, so the same run can execute on any machine that sees the storage.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import platform
import subprocess
import uuid
from pathlib import Path
from typing import Any

import django_rq
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from webapp.core import storage
from webapp.core.models import RunStatus
from webapp.training.models import TrainingRun

RECIPES_DIR = Path(settings.BASE_DIR) / "recipes"
PACKAGES = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "pyarrow", "django", "rq")
# Fields the web app fills in per run; an override may not point a run at other files.
PATH_FIELDS = {"model_name_or_path", "train_file", "items_file", "output_dir", "media_root", "adapter", "resume"}
EVAL_DEFAULTS = {"max_new_tokens": 64, "batch_size": 8}


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
        enqueue(run)
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


def enqueue(run: TrainingRun) -> None:
    from webapp.training.jobs import training_job

    job_id = f"train-{run.stage}-{run.pk}-{uuid.uuid4().hex[:8]}"
    TrainingRun.objects.filter(pk=run.pk).update(rq_job_id=job_id)
    run.rq_job_id = job_id
    queue = django_rq.get_queue("gpu")
    transaction.on_commit(lambda: queue.enqueue(training_job, run.pk, job_id=job_id, job_timeout=7 * 24 * 3600,
                                                description=f"{run}"))


def cancel(run: TrainingRun) -> bool:
    """Queued runs never start; a running stage stops at its next progress report and saves a checkpoint."""
    return run.mark_cancelled()


def resume(run: TrainingRun) -> bool:
    """Requeue a failed/cancelled run; training stages continue from their last checkpoint-N/ in output_dir."""
    with transaction.atomic():
        if not run.requeue():
            return False
        TrainingRun.objects.filter(pk=run.pk).update(config={**run.config, "_resume": True})
        run.config["_resume"] = True
        enqueue(run)
    return True


def is_cancelled(run: TrainingRun) -> bool:
    return TrainingRun.objects.filter(pk=run.pk, status=RunStatus.CANCELLED).exists()


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


def baseline_label(run: TrainingRun) -> str:
    """Which of the issue's comparisons an evaluation run is, read from the lineage of the model it scores.

    pretrained student (no parent); label-only SFT; label-only GRPO (GRPO from the base model, R1-AQA style);
    SightSound (GRPO continuing a chain SFT).
    """
    model = run.parent
    if model is None:
        return "pretrained student"
    label_only = model.config.get("_targets") == "label_only"
    if model.stage == TrainingRun.Stage.SFT:
        return "label-only SFT" if label_only else "chain SFT"
    sft = model.parent
    if sft is None:
        return "label-only GRPO"
    if sft.stage == TrainingRun.Stage.SFT and sft.config.get("_targets") != "label_only":
        return "SightSound (chain SFT → GRPO)"
    return "label-only SFT → GRPO"


def comparison(runs: list[TrainingRun]) -> dict[str, Any]:
    """Eval runs side by side: overall accuracy and every slice any of them reports."""
    for run in runs:
        run.baseline = baseline_label(run)
    slices = sorted({key for r in runs for key in (r.results.get("per_slice") or {})})
    rows = [{"slice": key, "cells": [(r.results.get("per_slice") or {}).get(key) for r in runs]} for key in slices]
    return {"runs": runs, "rows": rows, "chart": {
        "labels": [f"#{r.pk} {r.name or r.baseline}" for r in runs],
        "accuracy": [r.results.get("accuracy") for r in runs],
    }}


def lineage(run: TrainingRun) -> list[TrainingRun]:
    """The run and its parents, newest first (e.g. eval ← GRPO ← SFT)."""
    chain, seen = [], set()
    while run is not None and run.pk not in seen:
        chain.append(run)
        seen.add(run.pk)
        run = run.parent
    return chain
