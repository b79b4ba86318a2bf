"""Frozen datasets and training runs with their metric time series."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import models
from django.db.models import Q, QuerySet
from django.urls import reverse

from webapp.catalog.models import Clip, Dataset, Question
from webapp.core.models import Run
from webapp.core.shards import Shard, Sharded
from webapp.core.text import model_name
from webapp.curation.models import Chain


class DatasetSnapshot(Run):
    """An immutable, versioned set of approved chains plus the provenance needed to reproduce it."""

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="snapshots")
    version = models.PositiveIntegerField()
    name = models.CharField(max_length=120, blank=True)
    filters = models.JSONField(default=dict, blank=True)
    provenance = models.JSONField(default=dict, blank=True)
    chain_count = models.PositiveIntegerField(default=0)
    max_chains_per_question = models.PositiveSmallIntegerField(null=True, blank=True)
    export_dir = models.CharField(max_length=500, blank=True, help_text="Relative to MEDIA_ROOT.")
    export_files = models.JSONField(default=list, blank=True, help_text="[{name, bytes, rows}] of the export.")

    job_path = "webapp.training.jobs.snapshot_job"

    class Meta:
        ordering = ["dataset", "-version"]
        constraints = [models.UniqueConstraint(fields=["dataset", "version"], name="snapshot_unique_version")]

    def __str__(self) -> str:
        return f"{self.dataset} v{self.version}"

    def get_absolute_url(self) -> str:
        return reverse("training:snapshot", args=[self.pk])

    def job_id(self) -> str:
        return f"snapshot-{self.pk}-a{self.attempt}-{uuid.uuid4().hex[:6]}"

    def job_description(self) -> str:
        return f"snapshot {self}"

    def export_file(self, name: str) -> dict | None:
        """The export entry called `name` (a plain file, not the hf/ folder), or None."""
        return next((f for f in self.export_files if f.get("name") == name and "." in name), None)


class SnapshotItem(models.Model):
    snapshot = models.ForeignKey(DatasetSnapshot, on_delete=models.CASCADE, related_name="items")
    chain = models.ForeignKey(Chain, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(help_text="The chain text as frozen (the curator's edit where there is one).")
    chain_version = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["snapshot", "chain"], name="snapshot_item_unique_chain")]

    def __str__(self) -> str:
        return f"{self.snapshot} / chain {self.chain_id}"


class SnapshotQuestion(models.Model):
    """A labelled question frozen into a snapshot for the label-only baselines (chain or not).

    Frozen like the chains, so a snapshot version names one fixed set of training questions for every baseline,
    however many questions are imported into the dataset later (and so an evaluation can be checked against it).
    """

    snapshot = models.ForeignKey(DatasetSnapshot, on_delete=models.CASCADE, related_name="questions")
    question = models.ForeignKey("catalog.Question", on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["snapshot", "question"], name="snapshot_question_unique")]

    def __str__(self) -> str:
        return f"{self.snapshot} / question {self.question_id}"


def playable_questions(dataset_id: int) -> QuerySet[Question]:
    """Questions a student can be trained or scored on: the clip is processed and has audio."""
    return (Question.objects.filter(dataset_id=dataset_id, clip__status=Clip.Status.READY)
            .exclude(clip__audio_path="").select_related("clip").order_by("id"))


class TrainingRun(Sharded, Run):
    class Stage(models.TextChoices):
        SFT = "sft", "SFT"
        GRPO = "grpo", "GRPO"
        DPO = "dpo", "DPO"
        EVAL = "eval", "Evaluation"

    stage = models.CharField(max_length=8, choices=Stage.choices, db_index=True)
    name = models.CharField(max_length=120, blank=True)
    base_model = models.CharField(max_length=500)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    snapshot = models.ForeignKey(DatasetSnapshot, null=True, blank=True, on_delete=models.PROTECT, related_name="runs")
    recipe = models.CharField(max_length=120, blank=True)
    config = models.JSONField(default=dict, blank=True)
    environment = models.JSONField(default=dict, blank=True, help_text="Versions, git commit, hardware.")
    checkpoint_path = models.CharField(max_length=500, blank=True, help_text="Relative to MEDIA_ROOT.")
    results = models.JSONField(default=dict, blank=True, help_text="Evaluation results: overall and per slice.")
    worker_class = models.CharField(max_length=120, blank=True, help_text="The machine class of the latest attempt.")
    estimate = models.JSONField(default=dict, blank=True, help_text="The launch form's estimate, per worker class.")

    job_path = "webapp.training.jobs.training_job"
    job_timeout = 7 * 24 * 3600

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(stage="sft") | Q(snapshot__isnull=False), name="training_sft_needs_snapshot"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_stage_display()} #{self.pk}{f' {self.name}' if self.name else ''}"

    def get_absolute_url(self) -> str:
        return reverse("training:run", args=[self.pk])

    @property
    def base_model_name(self) -> str:
        return model_name(self.base_model)

    def job_queue(self) -> str:
        return "gpu"

    def job_id(self) -> str:
        return f"train-{self.stage}-{self.pk}-a{self.attempt}-{uuid.uuid4().hex[:6]}"

    def requeue(self) -> bool:
        """Requeue a failed/cancelled run; its job tells a training stage to continue from its last checkpoint-N/."""
        if not super().requeue():
            return False
        TrainingRun.objects.filter(pk=self.pk).update(config={**self.config, "_resume": True})
        self.config["_resume"] = True
        return True

    @property
    def checkpoints_deleted_at(self) -> datetime | None:
        """When an admin deleted the run's checkpoints (training/housekeeping.py): its adapter is gone."""
        stamp = self.results.get("checkpoints_deleted_at")
        return datetime.fromisoformat(stamp) if stamp else None

    @property
    def output_dir(self) -> str:
        """Checkpoints, the adapter and predictions, relative to the storage root every worker sees."""
        return f"runs/training/{self.pk}"

    # --- shards (webapp/core/shards.py): an evaluation of an imported split splits by question ranges; training
    # stages (one model, one optimizer) and in-sample evaluations (a snapshot's file, not questions) never do.
    def shard_units(self) -> list[tuple[int, int]] | None:
        if self.stage != self.Stage.EVAL or not (self.config.get("_eval") or {}).get("dataset"):
            return None
        return [(pk, 1) for pk in self.eval_questions().values_list("pk", flat=True)]

    def eval_questions(self) -> QuerySet[Question]:
        """The questions an evaluation of an imported split scores, in id order: the split's playable ones, perhaps
        only the first N (the launch's limit, or the stage's own `limit` override, which a shard then leaves unset).
        A query, not a slice, so a shard can narrow it to its question range."""
        spec = self.config["_eval"]
        qs = playable_questions(spec["dataset"])
        if spec.get("split"):
            qs = qs.filter(split=spec["split"])
        if limits := [n for n in (spec.get("limit"), self.config.get("limit")) if n]:
            qs = qs.filter(pk__in=qs.values("pk")[: min(limits)])
        return qs

    def shard_set(self) -> QuerySet[EvaluationShard]:
        return self.shards.all()

    def new_shard(self, index: int, lo: int, hi: int, units: int) -> EvaluationShard:
        return EvaluationShard(run=self, index=index, lo=lo, hi=hi, progress_total=units)


class EvaluationShard(Shard):
    """One question range of an evaluation run, scored by its own job; the last to finish scores the whole run."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="shards")
    job_path = "webapp.training.jobs.evaluation_shard_job"

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="evaluation_shard_unique_index")]

    @property
    def output_dir(self) -> str:
        """Its items and predictions, beside the run's (whose predictions.jsonl joins them at the end); one folder
        per attempt, so a superseded job still writing never shares a file with its successor."""
        return f"{self.run.output_dir}/shards/{self.index}/a{self.attempt}"


class MetricPoint(models.Model):
    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="metrics")
    step = models.PositiveIntegerField()
    name = models.CharField(max_length=64)
    value = models.FloatField()

    class Meta:
        ordering = ["run", "name", "step"]
        constraints = [models.UniqueConstraint(fields=["run", "name", "step"], name="metric_unique_point")]

    def __str__(self) -> str:
        return f"{self.name}@{self.step}={self.value:g}"
