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
EVAL_DEFAULTS = {"batch_size": 8}
# What a run trains on: SFT on chains or on labels alone; GRPO on SightSound's questions (lettered student prompt)
# or in R1-AQA mode. Label-only baselines come in two matched designs: every labelled question, or SightSound's.
TARGETS = {"sft": ("chains", "label_only"), "grpo": ("chains", "r1aqa"), "dpo": ("chains",)}
DESIGNS = {"all": "every labelled training question (R1-AQA setting)",
           "kept": "exactly the questions SightSound kept (a chain frozen in the snapshot)"}


def train_file_name(stage: str, targets: str, design: str) -> str:
    """The export file a training run reads (pipeline.export names them).

    >>> train_file_name("sft", "label_only", "kept"), train_file_name("grpo", "chains", "all")
    ('sft_label_only_matched.jsonl', 'grpo.jsonl')
    >>> train_file_name("dpo", "chains", "all")  # the curators' preference pairs
    'preferences.jsonl'
    """
    from pipeline.export import BASELINE_FILES

    if stage == "sft" and targets == "label_only":
        return BASELINE_FILES["sft_label_only"][design]
    if stage == "grpo" and targets == "r1aqa":
        return BASELINE_FILES["grpo_r1aqa"][design]
    return {"grpo": "grpo.jsonl", "dpo": "preferences.jsonl"}.get(stage, "sft.jsonl")


def training_snapshots(run: TrainingRun | None) -> list[Any]:
    """Every snapshot the model a run scores was trained on (its lineage's), newest first."""
    out: dict[int, Any] = {}
    while run is not None:
        if run.snapshot is not None and run.stage != TrainingRun.Stage.EVAL:
            out.setdefault(run.snapshot.pk, run.snapshot)
        run = run.parent
    return list(out.values())


def eval_budget(parent: TrainingRun | None) -> int:
    """Evaluation's token budget: the pipeline default, or more when the scored model trained on longer
    completions, so no chain is cut before its answer."""
    from pipeline.scoring import DEFAULT_MAX_NEW_TOKENS

    longest = DEFAULT_MAX_NEW_TOKENS
    while parent is not None:
        longest = max(longest, int(parent.config.get("max_completion_length") or 0))
        parent = parent.parent
    return longest


def config_class(stage: str) -> type:
    if stage == TrainingRun.Stage.SFT:
        from pipeline.sft import SFTStageConfig

        return SFTStageConfig
    if stage == TrainingRun.Stage.GRPO:
        from pipeline.grpo import GRPOStageConfig

        return GRPOStageConfig
    if stage == TrainingRun.Stage.DPO:
        from pipeline.dpo import DPOStageConfig

        return DPOStageConfig
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
        if run.parent is not None and (run.config.get("_eval") or {}).get("checkpoint") == "best":
            paths["adapter"] = str(storage.resolve(run.parent.output_dir) / "best-adapter")
    else:
        export = run.snapshot.export_dir if run.snapshot else ""
        name = train_file_name(run.stage, run.config.get("_targets") or "chains", run.config.get("_design") or "all")
        paths["train_file"] = str(storage.resolve(f"{export}/{name}")) if export and not check_only else "x.jsonl"
        paths["resume"] = resume
        paths["val_file"] = str(out / "val.jsonl") if run.config.get("_val") else None
        if run.stage in (TrainingRun.Stage.GRPO, TrainingRun.Stage.DPO):
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
    parent: TrainingRun | None = data.get("parent")
    if stage == TrainingRun.Stage.EVAL:
        values = {**EVAL_DEFAULTS, "max_new_tokens": eval_budget(parent), **values}
    base_model = parent.base_model if parent else data["base_model"]
    targets = data.get("targets") or "chains"
    if stage in TARGETS and targets not in TARGETS[stage]:
        raise LaunchError(f"{stage} trains on {' or '.join(TARGETS[stage])}, not {targets!r}")
    extra: dict[str, Any] = {"_targets": targets, "_design": data.get("design") or "all"}
    if stage != TrainingRun.Stage.EVAL and data.get("val_split"):
        extra["_val"] = validation_split_check(data, parent)
        values.setdefault("val_every_steps", max(1, int(values.get("save_steps") or 100)))
    if stage == TrainingRun.Stage.EVAL:
        extra["_eval"] = {"dataset": data["eval_dataset"].pk if data.get("eval_dataset") else None,
                          "split": data.get("eval_split") or "", "limit": data.get("eval_limit"),
                          "checkpoint": best_checkpoint_check(data, parent), **held_out_check(data, parent)}
    run = TrainingRun(stage=stage, name=data.get("name") or "", base_model=base_model, parent=parent,
                      snapshot=data.get("snapshot"), recipe=data.get("recipe") or "", config={**values, **extra},
                      )
    stage_config(run, check_only=True)  # raises LaunchError with the field at fault
    return run


def validation_split_check(data: dict[str, Any], parent: TrainingRun | None) -> dict[str, Any]:
    """The validation split a training run scores every N steps: from its snapshot's dataset, never the test
    split (the test set must not choose the checkpoint), and sharing nothing with what the model trains on."""
    snapshot = data.get("snapshot")
    split = data["val_split"]
    if snapshot is None:
        raise LaunchError("a validation split comes from the snapshot's dataset: choose a snapshot")
    if split == "test":
        raise LaunchError("the test split never chooses a checkpoint: validate on another split (e.g. val)")
    probe = TrainingRun(stage=TrainingRun.Stage.SFT, base_model="-", snapshot=snapshot, parent=parent)
    held_out_check({"eval_dataset": snapshot.dataset, "eval_split": split}, probe)
    return {"dataset": snapshot.dataset_id, "split": split}


def best_checkpoint_check(data: dict[str, Any], parent: TrainingRun | None) -> str:
    """"best" (the parent's best-on-validation adapter) or "final"; best needs a parent that kept one."""
    choice = data.get("checkpoint") or "final"
    if choice == "best":
        from pipeline.trajectory import best_adapter

        if parent is None or best_adapter(storage.resolve(parent.output_dir)) is None:
            raise LaunchError("the best checkpoint is chosen on a validation split during training: the parent "
                              "run has none (train it with a validation split)")
    return choice


def held_out_check(data: dict[str, Any], parent: TrainingRun | None) -> dict[str, Any]:
    """Refuse an evaluation that shares a question or a clip with what the scored model trained on.

    The evaluation set is the chosen dataset/split; it is compared with every snapshot in the model's lineage
    (frozen chains and frozen label-only questions) by `catalog.leakage.overlap`, the check the dataset page shows:
    same question, same clip, a clip with the same media name (a video seen under another dataset) or the same
    media bytes all count. An explicit in-sample override is recorded and labelled
    on every page that shows the number. Returns what is stored with the run (`in_sample`, the overlap found).
    """
    from webapp.catalog.leakage import overlap as shared_with
    from webapp.catalog.models import Question
    from webapp.training.snapshots import training_questions

    in_sample = bool(data.get("in_sample"))
    dataset = data.get("eval_dataset")
    if dataset is None:
        if not in_sample:
            raise LaunchError("an evaluation needs a dataset and split that shares nothing with the training "
                              "snapshot; scoring the snapshot's own questions is in-sample (tick in-sample to do "
                              "it anyway, and the number will say so)")
        return {"in_sample": True, "overlap": None}
    questions = Question.objects.filter(dataset=dataset)
    if data.get("eval_split"):
        questions = questions.filter(split=data["eval_split"])
    overlap = {"questions": 0, "clips": 0, "snapshots": []}
    for snapshot in training_snapshots(parent):
        shared = shared_with(training_questions(snapshot), questions, texts=False)  # the dataset page's check
        if shared.refused:
            overlap["questions"] += shared.questions
            overlap["clips"] += shared.clips
            overlap["snapshots"].append(str(snapshot))
    if overlap["snapshots"] and not in_sample:
        raise LaunchError(
            f"the evaluation set shares {overlap['questions']} question(s) and {overlap['clips']} clip(s) with "
            f"the training data of {', '.join(overlap['snapshots'])}: choose a split that shares no question and "
            "no clip (or tick in-sample, and the number will be labelled in-sample everywhere)")
    return {"in_sample": bool(overlap["snapshots"]), "overlap": overlap}


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
