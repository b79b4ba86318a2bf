"""Evaluation runs side by side, as a researcher would publish them.

Each column says which baseline it is (read from the lineage of the model it scores), on which items (n, dataset,
split, matched design, snapshot version, in-sample or held out), with the 95% bootstrap CI of every accuracy, the
parse-failure and truncation rates, the accuracy with the audio silenced and the audio's share, the exact McNemar
p-value against the SightSound run scored on the same items, and mean ± sd where one configuration ran with
several seeds. The same table downloads as Markdown or CSV.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from webapp.core import storage
from webapp.training.models import TrainingRun

SIGHTSOUND = "SightSound (chain SFT → GRPO)"
SIGHTSOUND_DPO = "SightSound (chain SFT → DPO on hallucination pairs)"


def baseline_label(run: TrainingRun) -> str:
    """Which of the comparisons an evaluation run is, read from the lineage of the model it scores.

    pretrained student (no parent); label-only SFT; label-only GRPO (GRPO from the base model, R1-AQA style);
    SightSound (GRPO continuing a chain SFT); SightSound DPO (DPO on the curators' preference pairs continuing a
    chain SFT).
    """
    model = run.parent
    if model is None:
        return "pretrained student"
    label_only = model.config.get("_targets") == "label_only"
    if model.stage == TrainingRun.Stage.SFT:
        return "label-only SFT" if label_only else "chain SFT"
    sft = model.parent
    if model.stage == TrainingRun.Stage.DPO:
        chain_sft = sft is not None and sft.stage == TrainingRun.Stage.SFT
        return SIGHTSOUND_DPO if chain_sft and sft.config.get("_targets") != "label_only" else "DPO"
    if sft is None:
        return "label-only GRPO"
    if sft.stage == TrainingRun.Stage.SFT and sft.config.get("_targets") != "label_only":
        return SIGHTSOUND
    return "label-only SFT → GRPO"


def _ancestors(run: TrainingRun) -> list[TrainingRun]:
    out, seen, node = [], set(), run.parent
    while node is not None and node.pk not in seen:
        out.append(node)
        seen.add(node.pk)
        node = node.parent
    return out


def design(run: TrainingRun) -> str:
    """The matched design of the training questions: label-only runs say theirs, chain runs use SightSound's."""
    ancestors = _ancestors(run)
    if not ancestors:
        return "—"
    label = [a for a in ancestors if a.config.get("_targets") in {"label_only", "r1aqa"}]
    if not label:
        return "SightSound's kept questions"
    return ("every labelled training question" if label[0].config.get("_design", "all") == "all"
            else "SightSound's kept questions (matched)")


def items_key(run: TrainingRun) -> tuple[Any, ...]:
    """Runs with the same key were scored on the same items (same dataset, split and limit)."""
    spec = run.config.get("_eval") or {}
    return (spec.get("dataset"), spec.get("split") or "", spec.get("limit"), run.snapshot_id if not spec.get("dataset")
            else None)


def seed_key(run: TrainingRun) -> tuple[Any, ...]:
    """A seed group: same lineage shape, snapshots, recipes and overrides, and the same items, except the seed."""
    parts: list[Any] = [items_key(run), baseline_label(run)]
    for node in _ancestors(run):
        cfg = {k: v for k, v in node.config.items() if k not in {"seed", "_resume"}}
        parts.append((node.stage, node.snapshot_id, node.recipe, json.dumps(cfg, sort_keys=True, default=str)))
    return tuple(parts)


def _seed(run: TrainingRun) -> Any:
    return next((a.config.get("seed") for a in _ancestors(run) if a.config.get("seed") is not None), None)


def _correct_by_id(run: TrainingRun) -> dict[str, bool]:
    rel = run.results.get("predictions")
    if not rel:
        return {}
    path = storage.resolve(rel)
    if not path.is_file():
        return {}
    from pipeline.jsonl import iter_jsonl

    return {str(row["id"]): bool(row["correct"]) for row in iter_jsonl(path)}


def _paired_p(a: TrainingRun, b: TrainingRun) -> float | None:
    """Exact McNemar p-value of two runs on the items both scored (None when they share none)."""
    from pipeline.stats import mcnemar_exact

    ra, rb = _correct_by_id(a), _correct_by_id(b)
    shared = sorted(set(ra) & set(rb))
    if not shared:
        return None
    return mcnemar_exact([ra[i] for i in shared], [rb[i] for i in shared]).p_value


def _summary(run: TrainingRun) -> dict[str, Any]:
    summary = dict(run.results.get("summary") or {})
    summary.setdefault("accuracy", run.results.get("accuracy"))
    summary.setdefault("n", run.results.get("n"))
    return summary


def comparison(runs: list[TrainingRun]) -> dict[str, Any]:
    """Eval runs side by side: every figure per run, every slice any of them reports, p-values, seed groups."""
    from pipeline.stats import seed_summary

    reference = next((r for r in runs if baseline_label(r) == SIGHTSOUND), None)
    groups: dict[tuple[Any, ...], list[TrainingRun]] = {}
    for run in runs:
        groups.setdefault(seed_key(run), []).append(run)
    for run in runs:
        run.baseline = baseline_label(run)
        run.summary = _summary(run)
        run.design = design(run)
        spec = run.config.get("_eval") or {}
        run.items = {"dataset": spec.get("dataset"), "split": spec.get("split") or "every split",
                     "in_sample": bool(run.results.get("in_sample") or spec.get("in_sample"))}
        snaps = [a.snapshot for a in _ancestors(run) if a.snapshot is not None]
        run.snapshot_label = ", ".join(dict.fromkeys(str(s) for s in snaps)) or "—"
        run.seed = _seed(run)
        run.p_vs_sightsound = (None if reference is None or run is reference or items_key(run) != items_key(reference)
                               else _paired_p(run, reference))
        group = groups[seed_key(run)]
        run.seeds = (seed_summary([g.results.get("accuracy") or 0.0 for g in group]) if len(group) > 1 else None)
    slices = sorted({key for r in runs for key in (r.results.get("per_slice") or {})})
    rows = [{"slice": key, "cells": [(r.results.get("per_slice") or {}).get(key) for r in runs]} for key in slices]
    chart_slices = ["overall", *slices]
    return {"runs": runs, "rows": rows, "reference": reference, "chart": {
        "labels": chart_slices,
        "runs": [{"label": f"#{r.pk} {r.name or r.baseline}",
                  "accuracy": [r.summary.get("accuracy"), *[(c or {}).get("accuracy") for c in row_cells(rows, i)]],
                  "low": [r.summary.get("ci_low"), *[(c or {}).get("ci_low") for c in row_cells(rows, i)]],
                  "high": [r.summary.get("ci_high"), *[(c or {}).get("ci_high") for c in row_cells(rows, i)]]}
                 for i, r in enumerate(runs)],
    }}


def row_cells(rows: list[dict[str, Any]], index: int) -> list[dict[str, Any] | None]:
    return [row["cells"][index] for row in rows]


COLUMNS = ("run", "baseline", "design", "snapshot", "seed", "items", "in_sample", "slice", "n", "accuracy",
           "ci_low", "ci_high", "parse_failure_rate", "truncation_rate", "silent_accuracy", "audio_gain",
           "p_vs_sightsound", "seeds_mean", "seeds_sd", "n_seeds")


def table_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per run and slice (overall first): the downloadable form of the comparison."""
    out = []
    for i, run in enumerate(data["runs"]):
        base = {"run": f"#{run.pk} {run.name}".strip(), "baseline": run.baseline, "design": run.design,
                "snapshot": run.snapshot_label, "seed": run.seed,
                "items": f"dataset {run.items['dataset']} / {run.items['split']}", "in_sample": run.items["in_sample"],
                "p_vs_sightsound": run.p_vs_sightsound,
                "seeds_mean": run.seeds.mean if run.seeds else None, "seeds_sd": run.seeds.std if run.seeds else None,
                "n_seeds": run.seeds.n_seeds if run.seeds else 1}
        for name, cell in [("overall", run.summary), *[(row["slice"], row["cells"][i]) for row in data["rows"]]]:
            if not cell:
                continue
            out.append({**base, "slice": name, **{k: cell.get(k) for k in (
                "n", "accuracy", "ci_low", "ci_high", "parse_failure_rate", "truncation_rate", "silent_accuracy",
                "audio_gain")}})
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def as_csv(data: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS)
    writer.writeheader()
    for row in table_rows(data):
        writer.writerow({k: _fmt(row.get(k)) for k in COLUMNS})
    return buf.getvalue()


def as_markdown(data: dict[str, Any]) -> str:
    """The comparison as a Markdown table plus each run's exact configs (lineage recipes and overrides)."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in table_rows(data):
        lines.append("| " + " | ".join(_fmt(row.get(k)).replace("|", "\\|") for k in COLUMNS) + " |")
    lines += ["", "95% bootstrap CIs over items; p_vs_sightsound: exact McNemar test on the items both runs scored.",
              "", "## Configs"]
    for run in data["runs"]:
        lines.append(f"\n### #{run.pk} {run.name} ({run.baseline})\n")
        for node in [run, *_ancestors(run)]:
            cfg = json.dumps({"stage": node.stage, "recipe": node.recipe, "config": node.config}, sort_keys=True,
                             default=str)
            lines.append(f"- #{node.pk}: `{cfg}`")
    return "\n".join(lines) + "\n"
