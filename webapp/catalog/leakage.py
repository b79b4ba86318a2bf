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

import hashlib
import json
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db.models import F, Max, Q, QuerySet

from webapp.catalog.models import Clip, ClipTally, Dataset, Question, QuestionTally
from webapp.core.work_mem import room_to_hash

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


CACHE_SECONDS = 600


def cached_dataset_leaks(dataset: Dataset) -> list[LeakRow]:
    """`dataset_leaks`, kept in Django's cache until any question or clip changes: at AVQA size (40k train, 17k
    test questions) the report takes about 1.6 s on the shared 2-core box, and the dataset page is visited often.
    The key counts questions and clips and takes the newest of each (id, creation or processing time), so an
    import, a deletion or a processed clip (its sha256 arrives then) makes a new one. The counts are the tallies
    the Datasets page reads (catalog/tallies.py) and the newest values come from indexes: counting every row, the
    key alone took about a second at 500k questions."""
    questions = (list(QuestionTally.objects.order_by("dataset_id").values_list("dataset_id", "n")),
                 Question.objects.aggregate(last=Max("pk"), newest=Max("created_at")))
    clips = (list(ClipTally.objects.order_by("dataset_id", "status").values_list("dataset_id", "status", "n")),
             Clip.objects.aggregate(last=Max("pk"), processed=Max("processed_at")))
    archived = list(Dataset.objects.filter(archived=True).values_list("pk", flat=True))
    key = "leaks:" + hashlib.sha1(repr((dataset.pk, questions, clips, archived)).encode()).hexdigest()
    rows = cache.get(key)
    if rows is None:
        rows = dataset_leaks(dataset)
        cache.set(key, rows, CACHE_SECONDS)
    return rows
