"""Split leakage: what a set of evaluated questions shares with a set of trained ones. ONE check, used both by the
dataset page (train vs test/val splits, and against other datasets' train splits) and by evaluation's in-sample
refusal (webapp/training/runs.py, held_out_check), so the page shows exactly what an evaluation would refuse.

Shared, counted on the evaluated side:
- a **question**: the same question row;
- a **clip**: the same clip row, a clip with the same media name (AVQA `video_name`, the YouTube id: the same
  video imported into another dataset or split), or the same media bytes (`media_sha256`). AVQA's `video_id` is a
  row number within its own annotation file, not an identity, so it is not compared;
- a **question text**: the same text and choices (case and spacing aside) on a question row of its own. Reported,
  not refused: a templated question ("What is making the sound?") on another clip is not a leak by itself — the
  demo task asks one question of all its clips — but the same text *and* clip always counts above as a clip.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from datetime import datetime

import django_rq
from django.conf import settings
from django.db.models import F, Max, Q, QuerySet, Sum
from django.utils import timezone

from webapp.catalog.models import Clip, ClipTally, Dataset, LeakReport, Question, QuestionTally
from webapp.core.queueing import REDIS_DOWN, QueueUnreachable, job_is_alive, job_ttls
from webapp.core.work_mem import room_to_hash

JOB = "webapp.catalog.jobs.leak_report_job"

EXAMPLES = 5


@dataclass
class Overlap:
    questions: int = 0  # evaluated questions that are trained question rows
    clips: int = 0  # evaluated clips shared with the trained questions' clips (row, media name or sha256)
    texts: int = 0  # evaluated questions whose text and choices a trained question also has
    examples: list[str] = field(default_factory=list)  # external ids of a few evaluated questions on a shared clip

    @property
    def refused(self) -> bool:
        """What makes an evaluation in-sample: a shared question or clip."""
        return bool(self.questions or self.clips)

    def __bool__(self) -> bool:
        return bool(self.questions or self.clips or self.texts)


def _text_key(text: str, choices: list[str]) -> str:
    return json.dumps([" ".join(text.lower().split()), [" ".join(str(c).lower().split()) for c in choices]])


def overlap(trained: QuerySet[Question], evaluated: QuerySet[Question], *, texts: bool = True) -> Overlap:
    """What `evaluated` shares with `trained` (see the module docstring); `texts=False` skips the text count.

    Run with room to hash (`core/work_mem.py`): the shared-clip test ORs three subqueries over the trained clips;
    within PostgreSQL's default work_mem they were re-scanned for every evaluated question, and the report at
    500k questions ran past the 60 s statement timeout (7 s with room, docs/benchmarks.md)."""
    with room_to_hash(trained.db):
        return _overlap(trained, evaluated, texts=texts)


def _overlap(trained: QuerySet[Question], evaluated: QuerySet[Question], *, texts: bool) -> Overlap:
    clips = Clip.objects.filter(questions__in=trained.values("pk"))
    shas = clips.exclude(media_sha256="").values("media_sha256")
    # ordered by `pk + 0`, not `pk`: with the primary key's order PostgreSQL walks its index under the LIMIT and runs
    # the three subqueries once per question (over 20 s at 400k chains); this way they are hashed once (~1 s)
    on_shared_clip = evaluated.filter(Q(clip__in=clips.values("pk")) | Q(clip__name__in=clips.values("name"))
                                      | Q(clip__media_sha256__in=shas))
    found = Overlap(questions=evaluated.filter(pk__in=trained.values("pk")).count(),
                    clips=on_shared_clip.values("clip").distinct().count(),
                    examples=list(on_shared_clip.order_by(F("pk") + 0)
                                  .values_list("external_id", flat=True)[:EXAMPLES]))
    if texts:
        keys = {_text_key(t, c) for t, c in trained.values_list("text", "choices").iterator(chunk_size=5000)}
        others = evaluated.exclude(pk__in=trained.values("pk")).values_list("text", "choices")
        found.texts = sum(1 for t, c in others.iterator(chunk_size=5000) if _text_key(t, c) in keys)
    return found


@dataclass
class LeakRow:
    trained: str  # "train" or "<dataset> train"
    evaluated: str
    found: Overlap


HELD_OUT = ("test", "val")


def dataset_leaks(dataset: Dataset) -> list[LeakRow]:
    """The dataset page's report: its train split against its held-out splits (always listed), then against the
    other datasets' held-out splits and their train splits against its held-out ones (listed when they share)."""
    own = Question.objects.filter(dataset=dataset)
    rows = [LeakRow("train", split, overlap(own.filter(split="train"), own.filter(split=split)))
            for split in HELD_OUT if own.filter(split=split).exists()]
    others = Dataset.objects.exclude(pk=dataset.pk).filter(archived=False).order_by("name")
    for other_id, name in others.values_list("pk", "name"):
        theirs = Question.objects.filter(dataset_id=other_id)
        for split in HELD_OUT:
            pairs = (("train", f"{name} · {split}", own.filter(split="train"), theirs.filter(split=split)),
                     (f"{name} · train", split, theirs.filter(split="train"), own.filter(split=split)))
            for trained_label, evaluated_label, trained, evaluated in pairs:
                if trained.exists() and evaluated.exists() and (found := overlap(trained, evaluated)):
                    rows.append(LeakRow(trained_label, evaluated_label, found))
    return rows


def data_key(dataset: Dataset) -> str:
    """The state of the data a report of `dataset` depends on: any import, deletion, archiving or processed clip (its
    sha256 arrives then) changes it. It counts questions and clips and takes the newest of each (id, creation or
    processing time); the counts are the tallies the Datasets page reads (catalog/tallies.py) and the newest values
    come from indexes: counting every row, the key alone took about a second at 500k questions."""
    questions = (list(QuestionTally.objects.order_by("dataset_id").values_list("dataset_id", "n")),
                 Question.objects.aggregate(last=Max("pk"), newest=Max("created_at")))
    clips = (list(ClipTally.objects.order_by("dataset_id", "status").values_list("dataset_id", "status", "n")),
             Clip.objects.aggregate(last=Max("pk"), processed=Max("processed_at")))
    archived = list(Dataset.objects.filter(archived=True).values_list("pk", flat=True))
    return hashlib.sha1(repr((dataset.pk, questions, clips, archived)).encode()).hexdigest()


def compute_report(dataset: Dataset) -> LeakReport:
    """Check `dataset` and keep the result for every web process (the background job's work). The key is taken
    before the check, so data that changes during it makes the stored report stale, never wrongly current."""
    key = data_key(dataset)
    started = time.monotonic()
    rows = dataset_leaks(dataset)
    report, _ = LeakReport.objects.update_or_create(dataset=dataset, defaults={
        "key": key, "rows": [dataclasses.asdict(row) for row in rows], "computed_at": timezone.now(),
        "seconds": round(time.monotonic() - started, 3)})
    return report


@dataclass
class ShownReport:
    """What the dataset page shows: the newest report (None: none yet) and whether it is the data's current one."""

    rows: list[LeakRow] | None
    current: bool
    computed_at: datetime | None = None
    seconds: float = 0.0
    checking: bool = False  # a job is computing the current report; the fragment asks again
    queue_error: str = ""  # the job could not be queued (Redis down)


def _rows(report: LeakReport) -> list[LeakRow]:
    return [LeakRow(r["trained"], r["evaluated"], Overlap(**r["found"])) for r in report.rows]


def _small() -> bool:
    """Whether the check is quick enough to run in the request: every live dataset's questions together are few
    (`LEAK_REPORT_INLINE_QUESTIONS`, a few hundred ms at the default on this project's 2-core box)."""
    live = Dataset.objects.filter(archived=False).values("pk")
    total = QuestionTally.objects.filter(dataset_id__in=live).aggregate(n=Sum("n"))["n"] or 0
    return total <= settings.LEAK_REPORT_INLINE_QUESTIONS


def shown_report(dataset: Dataset) -> ShownReport:
    """The report for the dataset page: the stored one when the data has not changed since it was computed;
    otherwise computed now when the data is small, or by a background job (queued once per state of the data)
    while the page shows the previous report, marked as such."""
    key = data_key(dataset)
    report = LeakReport.objects.filter(dataset=dataset).first()
    if report is None or report.key != key:
        if _small():
            report = compute_report(dataset)
        else:
            return _checking(dataset, key, report)
    return ShownReport(_rows(report), current=True, computed_at=report.computed_at, seconds=report.seconds)


def _checking(dataset: Dataset, key: str, report: LeakReport | None) -> ShownReport:
    done = report if report is not None and report.computed_at is not None else None  # not just a queued job's row
    shown = ShownReport(_rows(done) if done else None, current=False, checking=True,
                        computed_at=done.computed_at if done else None, seconds=done.seconds if done else 0.0)
    try:
        if not (report and report.pending_key == key and report.rq_job_id and job_is_alive(report.rq_job_id)):
            job_id = f"leaks-{dataset.pk}-{key[:16]}"
            django_rq.get_queue("default").enqueue(JOB, dataset.pk, job_id=job_id, job_timeout=3600,
                                                   description=f"split-leakage report of {dataset}", **job_ttls())
            LeakReport.objects.update_or_create(dataset=dataset, defaults={"pending_key": key, "rq_job_id": job_id})
    except (QueueUnreachable, *REDIS_DOWN):
        shown.checking, shown.queue_error = False, "the job queue (Redis) is not answering, so the check is not queued"
    return shown
