"""Evaluation runs side by side: which baseline each one is (read from its lineage) and their accuracy per slice."""

from __future__ import annotations

from typing import Any

from webapp.training.models import TrainingRun


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
