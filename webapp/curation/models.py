"""Teacher chains, validator verdicts and the append-only review history.

A chain is keyed by (generation run, question, sample index) so a retried generation job never
duplicates. `Chain.decision` and `Chain.version` are a cache of the state the Reviews derive (with review
overlap, the curators' consensus), written in the same transaction as each Review, so the review queue can
filter and check stale writes with an index, not a scan.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Count, QuerySet
from django.urls import reverse
from django.utils import timezone

from webapp.catalog.models import Clip, Dataset, Question
from webapp.core.models import Run
from webapp.core.shards import Shard, Sharded
from webapp.core.text import model_name


class GenerationRun(Sharded, Run):
    class Kind(models.TextChoices):
        TEACHER = "teacher", "Teacher chains"
        VALIDATION = "validation", "Validation"
        IMPORTED = "imported", "Imported chains"  # generated elsewhere, read from a file (chain_imports.py)

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="generation_runs")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.TEACHER)
    source_run = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="validation_runs",
        help_text="For a validation run: the teacher run whose chains it judges.",
    )
    split = models.CharField(max_length=8, blank=True, help_text="Blank: every split.")
    model = models.CharField(max_length=500, blank=True, help_text="Local path or hub id.")
    backend = models.CharField(max_length=32, default="transformers")
    prompt_version = models.CharField(max_length=64, blank=True)
    prompt_template = models.TextField(blank=True)
    samples_per_question = models.PositiveSmallIntegerField(default=4, help_text="K, test-time scaling.")
    sampling = models.JSONField(default=dict, blank=True, help_text="temperature, top_p, max_new_tokens, seed …")
    config = models.JSONField(default=dict, blank=True, help_text="Full stage config as run.")
    question_filter = models.JSONField(default=dict, blank=True)
    worker_class = models.CharField(max_length=120, blank=True, help_text="The machine class of the latest attempt.")
    estimate = models.JSONField(default=dict, blank=True, help_text="The launch form's estimate, per worker class.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} on {self.dataset}"

    def get_absolute_url(self) -> str:
        return reverse("curation:run", args=[self.pk])

    @property
    def makes_chains(self) -> bool:
        """A teacher run or an import: a run whose chains can be validated and reviewed."""
        return self.kind in (self.Kind.TEACHER, self.Kind.IMPORTED)

    @property
    def model_name(self) -> str:
        return model_name(self.model)

    @property
    def queue_name(self) -> str:
        """Teacher and LALM work needs a GPU; the sound-event validator is cheap CPU work, and a run whose model
        sits behind an OpenAI-compatible server only sends HTTP requests (its tagger, if any, is CPU work too).
        An import only reads a file."""
        if self.kind == self.Kind.IMPORTED:
            return "default"
        if self.kind == self.Kind.VALIDATION and self.config.get("validators") == "sound-events":
            return "default"
        if self.backend == "openai":
            return "default"
        return "gpu"

    job_timeout = 7 * 24 * 3600

    def job_name(self) -> str:
        if self.kind == self.Kind.TEACHER:
            return "webapp.curation.jobs.teacher_job"
        if self.kind == self.Kind.IMPORTED:
            return "webapp.curation.jobs.import_chains_job"
        return "webapp.curation.jobs.validation_job"

    def job_queue(self) -> str:
        return self.queue_name

    def job_id(self) -> str:
        return f"{self.kind}-{self.pk}-a{self.attempt}-{uuid.uuid4().hex[:6]}"

    def job_description(self) -> str:
        return f"{self.get_kind_display()} run {self.pk}"

    def teacher_questions(self) -> QuerySet[Question]:
        """The questions a teacher run asks, in id order: its dataset's with a ready clip, narrowed by its filter."""
        qs = self.dataset.questions.filter(clip__status=Clip.Status.READY).select_related("clip").order_by("id")
        if self.split:
            qs = qs.filter(split=self.split)
        if qtype := self.question_filter.get("question_type"):
            qs = qs.filter(question_type=qtype)
        if limit := self.question_filter.get("limit"):
            qs = qs.filter(pk__in=list(qs.values_list("pk", flat=True)[:limit]))
        return qs

    def chains_to_validate(self) -> QuerySet[Chain]:
        """A validation run's chains: its source run's kept ones (every one, if it includes the dropped)."""
        chains = Chain.objects.filter(run=self.source_run_id)
        return chains if self.config.get("include_dropped") else chains.filter(kept=True)

    # --- shards (webapp/core/shards.py): teacher and validation runs split by question ranges
    def shard_units(self) -> list[tuple[int, int]] | None:
        if self.kind == self.Kind.TEACHER:
            return [(pk, 1) for pk in self.teacher_questions().values_list("pk", flat=True)]
        if self.kind == self.Kind.VALIDATION:
            rows = self.chains_to_validate().values_list("question_id").annotate(n=Count("id")).order_by("question_id")
            return list(rows)  # type: ignore[arg-type]
        return None

    def shard_set(self) -> QuerySet[GenerationShard]:
        return self.shards.all()

    def new_shard(self, index: int, lo: int, hi: int, units: int) -> GenerationShard:
        return GenerationShard(run=self, index=index, lo=lo, hi=hi, progress_total=units)


class Chain(models.Model):
    class Decision(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"
        FLAGGED = "flagged", "Flagged"

    run = models.ForeignKey(GenerationRun, on_delete=models.CASCADE, related_name="chains")
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="chains")
    sample_index = models.PositiveSmallIntegerField()
    text = models.TextField(help_text="The teacher's original output; edits live in Review rows.")
    parsed_answer = models.PositiveSmallIntegerField(null=True, blank=True)
    open_answer = models.TextField(blank=True, help_text="The parsed free-text answer of an open question.")
    is_correct = models.BooleanField(null=True)
    kept = models.BooleanField(default=True, help_text="Survived the teacher's selection policy.")
    drop_reason = models.CharField(max_length=64, blank=True)
    n_tokens = models.PositiveIntegerField(null=True, blank=True)
    logprob = models.FloatField(null=True, blank=True)
    finish_reason = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    decision = models.CharField(max_length=12, choices=Decision.choices, default=Decision.PENDING)
    version = models.PositiveIntegerField(default=0, help_text="Bumped by every review; stale writes are refused.")
    verdict = models.ForeignKey(
        "Verdict", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The verdict of record: the deciding verdict of the validation run that most recently succeeded "
                  "on this chain. Filters, counts and exports read it; the other verdicts are history.",
    )
    flags = models.PositiveSmallIntegerField(
        default=0, help_text="Bit set of pipeline.flags.FLAGS (visual-only, restating, lucky guess), computed after "
                             "its run (curation/flags.py); flagged chains leave exports unless a snapshot keeps them.",
    )

    queue_priority = models.FloatField(
        default=0.0, help_text="Review order in an active-queue dataset: the question's mean estimated probability "
                               "that a pending chain is hallucinated, the same on all its chains (0: FIFO).")
    queue_reason = models.CharField(max_length=80, blank=True, help_text="Why the question is served early.")

    class Meta:
        ordering = ["question", "run", "sample_index"]
        constraints = [
            models.UniqueConstraint(fields=["run", "question", "sample_index"], name="chain_unique_sample"),
        ]
        indexes = [
            models.Index(fields=["question", "decision"], name="chain_question_decision"),
            models.Index(fields=["decision", "is_correct"], name="chain_decision_correct"),
            # The review queue reads pending chains in question order: this index holds only those, so finding
            # the next question costs the same at 0 % or 90 % reviewed (review/queue.py, claim_next).
            models.Index(fields=["question"], condition=models.Q(decision="pending", kept=True),
                         name="chain_pending_question"),
            # The active queue reads the same chains by priority (review/queue.py, claim_next).
            models.Index(models.F("queue_priority").desc(), "question",
                         condition=models.Q(decision="pending", kept=True), name="chain_pending_priority"),
            models.Index(fields=["flags"], condition=models.Q(flags__gt=0), name="chain_flagged"),
            # A run page counts its chains per drop reason, exactly up to a threshold (curation/selection.py): a
            # reason that dropped none is then an empty index range, not a walk over the run's millions of chains.
            models.Index(fields=["run", "drop_reason"], name="chain_run_drop_reason"),
        ]

    def __str__(self) -> str:
        return f"chain {self.run_id}/{self.question_id}/{self.sample_index}"


class GenerationShard(Shard):
    """One question range of a teacher or validation run, carried out by its own job (webapp/core/shards.py)."""

    run = models.ForeignKey(GenerationRun, on_delete=models.CASCADE, related_name="shards")
    job_path = "webapp.curation.jobs.generation_shard_job"

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="generation_shard_unique_index")]


class TeacherQuestion(models.Model):
    """What a teacher run's K samples of one question agreed on, written with its chains.

    The chains alone cannot say whether a kept chain's answer was knowledge or a lucky draw (right 1 time in 8):
    this row can, for the selection rule `min_agreement` and for anything that later flags lucky guesses.
    """

    run = models.ForeignKey(GenerationRun, on_delete=models.CASCADE, related_name="question_stats")
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="teacher_stats")
    majority_index = models.PositiveSmallIntegerField(null=True, blank=True,
                                                      help_text="Multiple choice: the most common answer's index.")
    majority_text = models.TextField(blank=True, help_text="The most common answer as text (open answers: "
                                                           "canonical form).")
    agreement = models.FloatField(help_text="Share of the parsed answers equal to the majority (0 when none).")
    n_samples = models.PositiveSmallIntegerField(help_text="K.")
    n_parsed = models.PositiveSmallIntegerField(help_text="Samples with a final answer.")
    n_correct = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Samples matching the label; "
                                                                                  "blank when unlabeled.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "question"], name="teacher_question_unique")]

    def __str__(self) -> str:
        return f"run {self.run_id} q{self.question_id}: {self.agreement:.2f} agree"


class StudentMiss(models.Model):
    """A question an evaluation's student got wrong, sent back to review with what it answered.

    Why in curation and keyed by a plain evaluation id: the training app builds on curation (snapshots read chains),
    not the other way round; the review filter and the item page read these rows without importing training.
    """

    class Kind(models.TextChoices):
        WRONG = "wrong", "Wrong"
        SILENT_ONLY = "silent_only", "Wrong, but right with the audio silenced"

    evaluation_id = models.PositiveIntegerField(db_index=True, help_text="The evaluation (TrainingRun) it came from.")
    evaluation_label = models.CharField(max_length=200, help_text="What the run was, as its page names it.")
    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="student_misses")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    answer = models.CharField(max_length=200, blank=True, help_text="The student's parsed answer.")
    completion = models.TextField(blank=True)
    completion_silent = models.TextField(blank=True, help_text="Its completion with the audio silenced, if run.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["evaluation_id", "question"], name="student_miss_unique")]

    def __str__(self) -> str:
        return f"evaluation {self.evaluation_id} q{self.question_id}: {self.kind}"


class ValidatorCalibration(models.Model):
    """A validator version's calibration on curator decisions (pipeline/calibration.py), refitted as they come in."""

    validator_version = models.CharField(max_length=255, unique=True)
    model = models.JSONField(help_text="Calibration.to_json(): weights per feature, decisions fitted on.")
    report = models.JSONField(default=dict, blank=True, help_text="Against curators, on the decisions fitted: "
                                                                  "reliability bins, precision/recall, threshold.")
    fitted_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"calibration of {self.validator_version} on {self.model.get('n', 0)} decisions"


class Verdict(models.Model):
    class Label(models.TextChoices):
        PASS = "pass", "Pass"
        FAIL = "fail", "Fail"
        UNCERTAIN = "uncertain", "Uncertain"

    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="verdicts")
    run = models.ForeignKey(GenerationRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="verdicts",
                            help_text="The validation run that produced it (resume skips its chains).")
    validator = models.CharField(max_length=64)
    validator_version = models.CharField(max_length=255, help_text="Names all that can change the verdict "
                                                                        "(pipeline/validate/versions.py).")
    label = models.CharField(max_length=12, choices=Label.choices, db_index=True)
    score = models.FloatField(null=True, blank=True)
    claims = models.JSONField(default=list, blank=True, help_text="Per claim: text, char span, verdict, time spans.")
    rationale = models.TextField(blank=True)
    raw_output = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # Keyed by run as well: re-validating with the same validator is a new judgement of record, not a no-op.
            models.UniqueConstraint(
                fields=["chain", "run", "validator", "validator_version"], name="verdict_unique_run_validator"
            ),
        ]
        # A validation run's page counts its verdicts per label the same way (curation/record.py).
        indexes = [models.Index(fields=["run", "validator", "label"], name="verdict_run_validator_label")]

    def __str__(self) -> str:
        return f"{self.validator}@{self.validator_version}: {self.label}"


class Review(models.Model):
    """Append-only: never updated or deleted; the chain's current state is derived from the rows (review/history.py).

    Single review: one stream per chain, `from/to_decision` are the chain's. With review overlap each curator has
    their own blind stream on the chain: `from/to_decision` are that curator's, `curator_version` orders it, an
    undo takes back only that curator's newest review, and `Chain.decision` is the consensus (review/history.py).
    An admin's ruling on a chain the curators tied on is a row of its own kind (`adjudicate`, `curator` the admin):
    the chain's decision and text follow it, and it is no curator's vote (review/adjudication.py).
    """

    class Action(models.TextChoices):
        ACCEPT = "accept", "Accept"
        REJECT = "reject", "Reject"
        EDIT = "edit", "Edit"
        FLAG = "flag", "Flag"
        UNDO = "undo", "Undo"
        ADJUDICATE = "adjudicate", "Adjudicate"

    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="reviews")
    curator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews")
    action = models.CharField(max_length=12, choices=Action.choices)
    from_decision = models.CharField(max_length=12, choices=Chain.Decision.choices)
    to_decision = models.CharField(max_length=12, choices=Chain.Decision.choices)
    reason = models.CharField(max_length=64, blank=True)
    note = models.TextField(blank=True)
    edited_text = models.TextField(blank=True)
    chain_version = models.PositiveIntegerField(help_text="The chain's version this review was written over.")
    curator_version = models.PositiveIntegerField(
        null=True, blank=True,
        help_text="Overlap only: the version of this curator's own stream of decisions on the chain that they saw "
                  "(their reviews before this one); blank for single review.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["chain", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "chain_version"], name="review_one_write_per_version"),
            models.UniqueConstraint(fields=["chain", "curator", "curator_version"],
                                    name="review_one_write_per_curator_version"),
        ]
        indexes = [
            models.Index(fields=["curator", "created_at"], name="review_curator_time"),
            # The few adjudicated chains as a set the dashboard starts from (not a test on every chain).
            models.Index(fields=["chain"], condition=models.Q(action="adjudicate"), name="review_adjudicated"),
        ]

    def __str__(self) -> str:
        return f"{self.action} chain {self.chain_id} v{self.chain_version}"


class Lease(models.Model):
    """Who is reviewing a question now: one row per review slot of a question, handed over by conditional writes.

    A dataset's `review_overlap` N gives each question N slots (0 … N-1); a curator holds at most one of them.
    Claiming a slot is one INSERT … ON CONFLICT (question, slot) DO UPDATE guarded by "mine, or expired and not
    completed" (the database locks the row and re-checks the guard under concurrency; review/leases.py), so two
    curators can never both hold a slot; an abandoned lease simply expires and the slot returns to the queue.
    With overlap (N > 1) a slot whose curator decided every kept chain is marked completed and is never handed
    to anyone else, so a question is reviewed by N different curators, never the same one twice.
    """

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="leases")
    slot = models.PositiveSmallIntegerField(default=0)
    curator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_leases")
    acquired_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    completed_at = models.DateTimeField(
        null=True, blank=True, help_text="Overlap only: when this curator had decided every kept chain."
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["question", "slot"], name="lease_unique_slot"),
            models.UniqueConstraint(fields=["question", "curator"], name="lease_one_slot_per_curator"),
        ]
        indexes = [
            models.Index(fields=["curator", "expires_at"], name="lease_curator_expiry"),
            models.Index(fields=["expires_at"], name="lease_expiry"),
        ]

    def __str__(self) -> str:
        return f"lease q{self.question_id}/{self.slot} → {self.curator_id} until {self.expires_at:%H:%M:%S}"

    @property
    def is_active(self) -> bool:
        return self.expires_at > timezone.now()


class ChainRevision(models.Model):
    """An edited text stored beside the teacher's original, re-parsed when written; append-only.

    Which text is current is derived from the review history (an undone edit is no longer current).
    """

    review = models.OneToOneField(Review, on_delete=models.CASCADE, related_name="revision")
    chain = models.ForeignKey(Chain, on_delete=models.CASCADE, related_name="revisions")
    text = models.TextField()
    parsed_answer = models.PositiveSmallIntegerField(null=True, blank=True)
    open_answer = models.TextField(blank=True, help_text="The parsed free-text answer of an open question.")
    is_correct = models.BooleanField(null=True)
    format_ok = models.BooleanField(default=False, help_text="Exactly <think>…</think><answer>…</answer>.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["chain", "created_at", "id"]

    def __str__(self) -> str:
        return f"revision of chain {self.chain_id} by review {self.review_id}"


class BulkAction(Run):
    """Accept or reject every chain of a filtered query; each chain still gets its own Review row."""

    class Action(models.TextChoices):
        ACCEPT = "accept", "Accept"
        REJECT = "reject", "Reject"

    action = models.CharField(max_length=8, choices=Action.choices)
    reason = models.CharField(max_length=64, blank=True)
    note = models.TextField(blank=True)
    filters = models.JSONField(default=dict, blank=True, help_text="The validated filter the chains matched.")
    expected_count = models.PositiveIntegerField(help_text="The count the curator confirmed.")
    applied_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0, help_text="Leased by someone else or changed meanwhile.")

    job_path = "webapp.curation.review.jobs.bulk_job"
    job_timeout = 3600

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"bulk {self.action} #{self.pk} ({self.expected_count} chains)"

    def job_id(self) -> str:
        return f"bulk-{self.pk}-a{self.attempt}"

    def job_description(self) -> None:
        return None


# --- the dashboards' counters (review/tallies.py keeps them, by database triggers) ------------------------------
# Plain ids, no foreign keys: a deleted run or curator leaves its rows at zero (the triggers count the deletion),
# and a constraint would stop the deletion's own triggers from writing them.


class ChainTally(models.Model):
    """Kept chains per generation run and decision."""

    run_id = models.IntegerField()
    decision = models.CharField(max_length=12)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run_id", "decision"], name="chaintally_key")]

    def __str__(self) -> str:
        return f"run {self.run_id} {self.decision}: {self.n}"


class VerdictTally(models.Model):
    """Kept chains per verdict of record (validator, version, label) and decision: the confusion table."""

    validator = models.CharField(max_length=64)
    validator_version = models.CharField(max_length=255)
    label = models.CharField(max_length=12)
    decision = models.CharField(max_length=12)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["validator", "validator_version", "label", "decision"],
                                               name="verdicttally_key")]

    def __str__(self) -> str:
        return f"{self.validator} {self.validator_version} {self.label}/{self.decision}: {self.n}"


class ReviewTally(models.Model):
    """Reviews per curator, calendar day (settings.TIME_ZONE when the triggers were made), action and dataset (so a
    curator's view leaves out others' reviews in a study under way by dataset: review/blind.py)."""

    curator_id = models.IntegerField()
    day = models.DateField()
    action = models.CharField(max_length=12)
    dataset_id = models.IntegerField()
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["curator_id", "day", "action", "dataset_id"],
                                               name="reviewtally_dataset_key")]

    def __str__(self) -> str:
        return f"curator {self.curator_id} {self.day} {self.action}: {self.n}"


class SharedChain(models.Model):
    """A chain two or more curators reviewed (rulings aside): where inter-curator agreement is counted."""

    chain = models.OneToOneField(Chain, on_delete=models.CASCADE, primary_key=True, related_name="+")

    def __str__(self) -> str:
        return f"shared chain {self.chain_id}"


class CuratorLabel(models.Model):
    """A curator's label in force on a shared chain (their newest review left standing, if it accepts or rejects):
    what the inter-curator tallies are counted from, kept by triggers (review/tallies.py)."""

    chain_id = models.BigIntegerField()
    curator_id = models.IntegerField()
    label = models.CharField(max_length=12)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chain_id", "curator_id"], name="curatorlabel_key")]

    def __str__(self) -> str:
        return f"chain {self.chain_id} curator {self.curator_id}: {self.label}"


class UndoneReview(models.Model):
    """A review an undo took back (review/history.py's replay, rulings aside), so a trigger can tell a curator's
    label in force without replaying the chain's history."""

    review_id = models.BigIntegerField(primary_key=True)
    chain_id = models.BigIntegerField(db_index=True)

    def __str__(self) -> str:
        return f"review {self.review_id} undone"


class PairTally(models.Model):
    """Kept shared chains per dataset, curator pair (a < b by id) and their two labels: the pairwise kappa tables."""

    dataset_id = models.IntegerField()
    curator_a = models.IntegerField()
    curator_b = models.IntegerField()
    label_a = models.CharField(max_length=12)
    label_b = models.CharField(max_length=12)
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset_id", "curator_a", "curator_b", "label_a", "label_b"],
                                               name="pairtally_key")]

    def __str__(self) -> str:
        return f"{self.curator_a}/{self.curator_b} {self.label_a}/{self.label_b}: {self.n}"


class LabelPatternTally(models.Model):
    """Kept chains with two or more curators' labels per dataset and (accepted, rejected) count: Fleiss' kappa."""

    dataset_id = models.IntegerField()
    accepted = models.IntegerField()
    rejected = models.IntegerField()
    n = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["dataset_id", "accepted", "rejected"],
                                               name="labelpatterntally_key")]

    def __str__(self) -> str:
        return f"{self.accepted} accepted / {self.rejected} rejected: {self.n}"
