"""Forms for snapshots, training launches and the comparison page; every input bounded and validated."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings

from webapp.catalog.models import Dataset, Question
from webapp.core.forms import SectionedForm
from webapp.core.models import RunStatus
from webapp.curation.flags import CHOICES as FLAG_CHOICES
from webapp.curation.models import Verdict
from webapp.training.comparison import baseline_label
from webapp.training.models import DatasetSnapshot, TrainingRun
from webapp.training.recipes import LaunchError, recipe_names
from webapp.training.runs import DESIGNS, launch_check


class SnapshotForm(SectionedForm):
    dataset = forms.ModelChoiceField(queryset=Dataset.objects.all())
    name = forms.CharField(required=False, max_length=120)
    split = forms.ChoiceField(required=False, choices=[("", "every split"), *Question.SPLITS])
    question_type = forms.CharField(required=False, max_length=64, help_text="Only this question type (optional).")
    verdict_label = forms.ChoiceField(required=False, choices=[("", "any verdict"), *Verdict.Label.choices],
                                      help_text="Only chains whose verdict of record has this label.")
    max_chains_per_question = forms.IntegerField(required=False, min_value=1, max_value=64,
                                                 help_text="Keep at most this many chains per question.")
    keep_flagged = forms.MultipleChoiceField(
        required=False, choices=FLAG_CHOICES, widget=forms.CheckboxSelectMultiple, label="Keep flagged chains",
        help_text="Chains flagged as only looking right are left out unless their flag is ticked here; the dataset "
                  "card counts what was left out.")
    embed_audio = forms.BooleanField(required=False, help_text="Embed wav bytes in parquet/hf (else file paths).")

    sections = [("Data", ["dataset", "name"]),
                ("Which chains", ["split", "question_type", "verdict_label", "max_chains_per_question",
                                  "keep_flagged"]),
                ("Export", ["embed_audio"])]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.preselect("dataset", Dataset.objects.all())


class TrainingRunForm(SectionedForm):
    stage = forms.ChoiceField(choices=TrainingRun.Stage.choices)
    name = forms.CharField(required=False, max_length=120, help_text="e.g. label-only SFT, SightSound SFT→GRPO.")
    base_model = forms.CharField(max_length=500, help_text="Student checkpoint (ignored when a parent is chosen).")
    parent = forms.ModelChoiceField(
        required=False, queryset=TrainingRun.objects.filter(status=RunStatus.SUCCEEDED).exclude(stage="eval")
        .exclude(results__has_key="checkpoints_deleted_at"),  # its adapter is gone (training/housekeeping.py)
        help_text="Continue from this run's adapter (GRPO, DPO, evaluation).")
    snapshot = forms.ModelChoiceField(required=False, queryset=DatasetSnapshot.objects.filter(
        status=RunStatus.SUCCEEDED).select_related("dataset"))
    targets = forms.ChoiceField(
        required=False, initial="chains", help_text="SFT: chains or the label alone; GRPO: SightSound or R1-AQA mode.",
        choices=[("chains", "chains (<think>…</think><answer>…</answer>)"),
                 ("label_only", "SFT label only (<answer>B</answer>, prompt asks for the answer only)"),
                 ("r1aqa", "GRPO in R1-AQA mode (choices unlettered, choice text in <answer>, no chain)")])
    design = forms.ChoiceField(required=False, initial="all", choices=list(DESIGNS.items()),
                               help_text="Label-only baselines: which training questions (the matched design).")
    recipe = forms.ChoiceField(required=False, choices=())
    overrides = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}), max_length=20_000,
                                help_text='JSON object of config fields, e.g. {"max_steps": 50}.')
    eval_dataset = forms.ModelChoiceField(required=False, queryset=Dataset.objects.all(),
                                          help_text="Evaluation: the imported dataset to score.")
    eval_split = forms.ChoiceField(required=False, choices=[("", "every split"), *Question.SPLITS])
    eval_limit = forms.IntegerField(required=False, min_value=1, max_value=1_000_000)
    val_split = forms.ChoiceField(required=False, choices=[("", "none"), *Question.SPLITS],
                                  help_text="SFT/GRPO: score this held-out split of the snapshot's dataset every "
                                            "val_every_steps (default: save_steps) and keep the best adapter.")
    checkpoint = forms.ChoiceField(required=False, initial="final",
                                   choices=[("final", "the final adapter"),
                                            ("best", "the best adapter on the validation split")],
                                   help_text="Evaluation of a parent run: which of its adapters.")
    in_sample = forms.BooleanField(required=False, help_text="Evaluation: allow questions or clips the model trained "
                                   "on (the number is then labelled in-sample everywhere).")

    sections = [("Data", ["stage", "snapshot", "eval_dataset", "eval_split", "eval_limit", "val_split"]),
                ("Model", ["name", "base_model", "parent", "checkpoint"]),
                ("Training", ["targets", "design", "recipe", "overrides", "in_sample"])]
    shown_when = {
        **{name: ("stage", ("sft", "grpo")) for name in ("targets", "design")},
        **{name: ("stage", ("sft", "grpo", "dpo")) for name in ("recipe", "val_split")},
        **{name: ("stage", ("eval",)) for name in ("eval_dataset", "eval_split", "eval_limit", "checkpoint",
                                                  "in_sample")},
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.initial.get("stage") in (None, "", TrainingRun.Stage.SFT):  # GRPO and evaluation name their own
            self.preselect("snapshot", DatasetSnapshot.objects.filter(status=RunStatus.SUCCEEDED))
        self.fields["recipe"].choices = [("", "none (defaults)"), *((n, n) for n in recipe_names())]
        self.fields["base_model"].initial = settings.STUDENT_MODEL

    def clean_overrides(self) -> dict[str, Any]:
        raw = (self.cleaned_data.get("overrides") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("Overrides must be a JSON object of config fields.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        stage = data.get("stage")
        if stage in {"sft", "grpo", "dpo"} and not data.get("snapshot"):
            self.add_error("snapshot", "SFT, GRPO and DPO train on an exported snapshot.")
        if stage == "sft" and data.get("parent"):
            self.add_error("parent", "SFT starts from the base model; choose a parent for GRPO or evaluation.")
        if stage == "eval" and not (data.get("eval_dataset") or (data.get("snapshot") and data.get("in_sample"))):
            self.add_error("eval_dataset", "Choose a dataset and split to evaluate on, held out from training.")
        recipe = data.get("recipe")
        if recipe and stage and not recipe.startswith(f"{stage}_"):
            self.add_error("recipe", f"Recipe {recipe} is not a {stage} recipe.")
        if not self.errors:
            try:
                self.run = launch_check(data)
            except LaunchError as exc:
                self.add_error("overrides", str(exc))
        return data


class EvaluationChoices(forms.ModelMultipleChoiceField):
    """Each succeeded evaluation as a checkbox that says which baseline it scores and how it did."""

    def label_from_instance(self, obj: TrainingRun) -> str:
        accuracy = obj.results.get("accuracy")
        scored = f" · accuracy {accuracy:.3f}" if isinstance(accuracy, int | float) else ""
        return f"#{obj.pk} {obj.name or 'evaluation'} · {baseline_label(obj)}{scored}"


class CompareForm(forms.Form):
    # Checkboxes, not a multi-select: picking several runs must not need Ctrl-click (nor lose the choice on a slip).
    runs = EvaluationChoices(
        required=False, widget=forms.CheckboxSelectMultiple,
        queryset=TrainingRun.objects.filter(stage="eval", status=RunStatus.SUCCEEDED)
        .select_related("parent__parent").order_by("-pk"))
