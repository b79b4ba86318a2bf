"""Datasets, their clips (one media file each) and questions (multiple-choice or open-vocabulary).

Paths are relative to MEDIA_ROOT so every worker, on whatever machine, resolves them the same way.
Uniqueness of (dataset, external id) and (dataset, clip name) is what makes a re-import a no-op.
"""

from __future__ import annotations

import string

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from webapp.core.models import Run

MAX_REVIEW_OVERLAP = 5


class Dataset(models.Model):
    class Format(models.TextChoices):
        AVQA = "avqa", "AVQA"
        MMAU = "mmau", "MMAU"
        MUSIC_AVQA = "music_avqa", "MUSIC-AVQA"

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    source_format = models.CharField(max_length=16, choices=Format.choices)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    review_overlap = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(MAX_REVIEW_OVERLAP)],
        help_text="How many different curators review each question (2+ for an agreement study; blind until done).",
    )
    class ReviewOrder(models.TextChoices):
        ACTIVE = "active", "Likely hallucinations first"
        FIFO = "fifo", "In import order"

    review_order = models.CharField(
        max_length=8, choices=ReviewOrder.choices, default=ReviewOrder.ACTIVE,
        help_text="Which question the review queue serves next: the one whose chains are most likely hallucinated "
                  "(validator scores calibrated on curator decisions), or the oldest.",
    )
    archived = models.BooleanField(
        default=False, help_text="Hidden from the datasets page and the review queue unless asked for; reversible.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("catalog:questions", args=[self.slug])


class Clip(models.Model):
    class Kind(models.TextChoices):
        VIDEO = "video", "Video"
        AUDIO = "audio", "Audio"

    class Status(models.TextChoices):
        MISSING = "missing", "Media missing"
        PENDING = "pending", "Waiting for processing"
        PROCESSING = "processing", "Processing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="clips")
    name = models.CharField(max_length=255, help_text="Media name in the source annotations (AVQA video_name).")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    source_media_id = models.CharField(max_length=64, blank=True)
    media_path = models.CharField(max_length=500, blank=True, help_text="Relative to MEDIA_ROOT; blank while missing.")
    media_sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    derived_bytes = models.BigIntegerField(null=True, blank=True, help_text="What processing wrote (wav, peaks, "
                                                                                 "thumbnail, frames).")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    # Probe results.
    duration = models.FloatField(null=True, blank=True)
    fps = models.FloatField(null=True, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    video_codec = models.CharField(max_length=32, blank=True)
    audio_codec = models.CharField(max_length=32, blank=True)
    sample_rate = models.PositiveIntegerField(null=True, blank=True)
    # Derived artifacts (relative to MEDIA_ROOT).
    audio_path = models.CharField(max_length=500, blank=True)
    peaks_path = models.CharField(max_length=500, blank=True)
    thumbnail_path = models.CharField(max_length=500, blank=True)
    frame_paths = models.JSONField(default=list, blank=True)
    frame_times = models.JSONField(default=list, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # Fencing token of processing: the number of the latest queued job; only that job may write the results.
    attempt = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["dataset", "name"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "name"], name="clip_unique_name_per_dataset"),
            models.CheckConstraint(
                condition=Q(status="missing") | ~Q(media_path=""), name="clip_has_media_unless_missing"
            ),
        ]
        indexes = [models.Index(fields=["dataset", "status"], name="clip_dataset_status"),
                   # the split-leakage report's cache key reads the newest processing time (catalog/leakage.py)
                   models.Index(fields=["processed_at"], name="clip_processed_at")]

    def __str__(self) -> str:
        return f"{self.dataset.slug}/{self.name}"

    @property
    def derived_dir(self) -> str:
        """Where processing writes this clip's artifacts, relative to MEDIA_ROOT."""
        return f"derived/{self.dataset.slug}/{self.pk}"

    @property
    def is_usable(self) -> bool:
        return self.status == self.Status.READY

    def mark_processing(self) -> bool:
        """A processing job claims a pending clip at its own attempt; False when another attempt owns it."""
        claimed = Clip.objects.filter(pk=self.pk, attempt=self.attempt, status=self.Status.PENDING) \
            .update(status=self.Status.PROCESSING, error="")
        if claimed:
            self.status, self.error = self.Status.PROCESSING, ""
        return bool(claimed)

    def mark_failed(self, reason: str) -> bool:
        failed = Clip.objects.filter(pk=self.pk, attempt=self.attempt, status=self.Status.PROCESSING) \
            .update(status=self.Status.FAILED, error=reason)
        if failed:
            self.status, self.error = self.Status.FAILED, reason
        return bool(failed)


class Question(models.Model):
    SPLITS = [("train", "train"), ("val", "val"), ("test", "test")]

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="questions")
    clip = models.ForeignKey(Clip, on_delete=models.PROTECT, related_name="questions")
    external_id = models.CharField(max_length=64)
    text = models.TextField()
    choices = models.JSONField(default=list, blank=True, help_text="Empty for open-vocabulary questions.")
    answer_index = models.PositiveSmallIntegerField(null=True, blank=True)
    answer_text = models.TextField()
    question_type = models.CharField(max_length=64, blank=True)
    question_relation = models.CharField(max_length=64, blank=True)
    category = models.CharField(max_length=64, blank=True)
    sub_category = models.CharField(max_length=128, blank=True)
    difficulty = models.CharField(max_length=32, blank=True)
    split = models.CharField(max_length=8, choices=SPLITS)
    extra = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["dataset", "id"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "external_id"], name="question_unique_id_per_dataset"),
            models.CheckConstraint(
                condition=Q(answer_index__isnull=True) | ~Q(choices=[]), name="question_answer_index_needs_choices"
            ),
        ]
        indexes = [
            # the question list's pages, in id order within a dataset: an index-only scan past the OFFSET
            models.Index(fields=["dataset", "id"], name="question_dataset_id"),
            models.Index(fields=["created_at"], name="question_created_at"),  # the leakage report's cache key
            models.Index(fields=["dataset", "split"], name="question_dataset_split"),
            models.Index(fields=["dataset", "question_type"], name="question_dataset_type"),
            models.Index(fields=["dataset", "question_relation"], name="question_dataset_relation"),
            models.Index(fields=["dataset", "category"], name="question_dataset_category"),
        ]

    def __str__(self) -> str:
        return f"{self.dataset.slug}#{self.external_id}"

    def get_absolute_url(self) -> str:
        return reverse("catalog:question", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return not self.choices

    @property
    def lettered_choices(self) -> list[tuple[str, str, bool]]:
        """(letter, text, is_answer) for templates and prompts."""
        return [
            (string.ascii_uppercase[i], text, i == self.answer_index) for i, text in enumerate(self.choices)
        ]


class ImportRun(Run):
    """One import of an annotation file; row errors are kept so the UI can show them after the fact."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="imports")
    source_format = models.CharField(max_length=16, choices=Dataset.Format.choices)
    source_name = models.CharField(max_length=255)
    annotations_path = models.CharField(max_length=500, blank=True, help_text="Uploaded file, relative to MEDIA_ROOT.")
    media_dir = models.CharField(max_length=1000, blank=True)
    split = models.CharField(max_length=8, choices=Question.SPLITS)
    allow_missing_media = models.BooleanField(default=False)
    created_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    attached_count = models.PositiveIntegerField(default=0, help_text="Clips whose missing media arrived.")
    duplicate_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=list, blank=True, help_text="Imported rows that deserve a look.")
    source_version = models.JSONField(default=dict, blank=True,
                                      help_text="Which revision of the benchmark the file is (MMAU: release, date).")

    job_path = "webapp.catalog.jobs.import_job"
    job_timeout = 6 * 3600

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import {self.source_name} → {self.dataset}"

    def job_id(self) -> str:
        return f"import-{self.pk}-a{self.attempt}"

    def job_description(self) -> None:
        return None

    def get_absolute_url(self) -> str:
        return reverse("catalog:import", args=[self.pk])



# --- the landing page's counters (catalog/tallies.py keeps them, by database triggers) ------------------------
# Plain ids, no foreign keys: a deleted dataset leaves its rows at zero (its clips' deletion is counted).


class ClipTally(models.Model):
    """Clips per dataset and status, with their stored media bytes."""

    dataset_id = models.IntegerField()
    status = models.CharField(max_length=12)
    n = models.BigIntegerField(default=0)
    size_bytes = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset_id", "status"], name="cliptally_key")]

    def __str__(self) -> str:
        return f"dataset {self.dataset_id} {self.status}: {self.n}"


class QuestionTally(models.Model):
    """Questions per dataset."""

    dataset_id = models.IntegerField(unique=True)
    n = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"dataset {self.dataset_id}: {self.n} questions"


class LeakReport(models.Model):
    """A dataset's split-leakage report (catalog/leakage.py), kept for every web process to read: at AVQA size the
    check takes about half a minute, too long for a request, so a job computes it once per state of the data (`key`)
    and the page shows the newest one, saying when the data has changed since."""

    dataset = models.OneToOneField(Dataset, on_delete=models.CASCADE, primary_key=True, related_name="leak_report")
    key = models.CharField(max_length=40, blank=True, help_text="The state of the data the rows describe.")
    rows = models.JSONField(default=list)
    computed_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(default=0.0, help_text="How long the check took.")
    pending_key = models.CharField(max_length=40, blank=True, help_text="The state a queued job is checking.")
    rq_job_id = models.CharField(max_length=100, blank=True)

    def __str__(self) -> str:
        return f"leak report of dataset {self.dataset_id}"
