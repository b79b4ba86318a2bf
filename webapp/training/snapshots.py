"""Dataset snapshots: freeze the accepted chains (streaming, resumable), gather provenance, export the files.

A snapshot is immutable once built: its items hold the chain text as it was (the curator's edit where there is one),
so a later review never changes what a training run read. Versions count up per dataset. Cancel and resume are
`Run`'s: a queued build never starts, a running one stops after its current batch (freezing or exporting), and a
resumed one redoes only the last question it froze.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Max, Q, QuerySet

from pipeline.flags import FLAGS
from webapp.catalog.models import Clip, Dataset, Question
from webapp.core import storage
from webapp.core.bulk import insert_rows
from webapp.core.failpoints import failpoint
from webapp.curation.flags import with_flag, without_flags
from webapp.curation.models import Chain, GenerationRun, Review, Verdict
from webapp.curation.record import with_verdict
from webapp.curation.review.history import chain_state
from webapp.curation.runs import policy_in_force
from webapp.training.models import DatasetSnapshot, SnapshotItem, SnapshotQuestion

logger = logging.getLogger(__name__)

BATCH = 500
FILTER_KEYS = ("split", "question_type", "verdict_label")
ChainRow = tuple[int, int, str, int]  # a chain as freezing reads it: id, question id, text, version


# --- launching ----------------------------------------------------------------------------------------------
def create_snapshot(data: dict[str, Any], user: AbstractBaseUser | None) -> DatasetSnapshot:
    """A new version for the dataset, queued for building; concurrent creates retry on the unique version."""
    dataset: Dataset = data["dataset"]
    filters = {k: data[k] for k in FILTER_KEYS if data.get(k)}
    filters["embed_audio"] = bool(data.get("embed_audio"))
    filters["keep_flagged"] = sorted(data.get("keep_flagged") or [])
    for _attempt in range(5):
        try:
            with transaction.atomic():
                version = (dataset.snapshots.aggregate(v=Max("version"))["v"] or 0) + 1
                snapshot = DatasetSnapshot.objects.create(
                    dataset=dataset, version=version, name=data.get("name") or "", filters=filters,
                    max_chains_per_question=data.get("max_chains_per_question"), created_by=user,
                )
                snapshot.enqueue()
            return snapshot
        except IntegrityError:
            continue
    raise RuntimeError(f"could not allocate a snapshot version for {dataset}")


# --- freezing -----------------------------------------------------------------------------------------------
def excluded_flags(snapshot: DatasetSnapshot) -> list[str]:
    """The chain flags whose chains the snapshot leaves out: every flag its form did not tick."""
    keep = set(snapshot.filters.get("keep_flagged") or [])
    return [name for name in FLAGS if name not in keep]


def candidate_chains(snapshot: DatasetSnapshot, *, drop_flagged: bool = True) -> QuerySet[Chain]:
    """The accepted chains the filters select, ordered by question so the per-question cap can stream; chains
    with a flag the snapshot did not choose to keep are left out (`drop_flagged=False`: counted for the card)."""
    chains = Chain.objects.filter(question__dataset_id=snapshot.dataset_id, decision=Chain.Decision.ACCEPTED,
                                  kept=True)  # a dropped chain never trains, whatever its decision says
    f = snapshot.filters
    if f.get("split"):
        chains = chains.filter(question__split=f["split"])
    if f.get("question_type"):
        chains = chains.filter(question__question_type=f["question_type"])
    if f.get("verdict_label"):
        chains = with_verdict(chains, f["verdict_label"])  # the verdict of record, never any stored verdict
    if drop_flagged:
        chains = without_flags(chains, excluded_flags(snapshot))
    return chains.order_by("question_id", "sample_index", "id")


def flagged_out(snapshot: DatasetSnapshot) -> dict[str, Any]:
    """What the flags left out: per excluded flag, how many otherwise selected chains carry it (a chain with two
    flags counts under both), the total left out, and the flags kept."""
    selected = candidate_chains(snapshot, drop_flagged=False)
    excluded = excluded_flags(snapshot)
    return {"excluded": {name: with_flag(selected, name).count() for name in excluded},
            "chains_left_out": selected.count() - candidate_chains(snapshot).count(),
            "kept": [name for name in FLAGS if name not in excluded]}


def freeze(snapshot: DatasetSnapshot, on_batch: Any = None) -> int:
    """Write the SnapshotItems in batches; resumable: the last question frozen is redone, earlier ones kept.

    Memory holds one batch of chain rows (plain tuples, not model instances) at a time, whatever the number of
    chains, and the queries are a fixed few per batch.
    """
    items = SnapshotItem.objects.filter(snapshot=snapshot)
    last_q = items.aggregate(q=Max("chain__question_id"))["q"]
    chains = candidate_chains(snapshot)
    if last_q is not None:
        with snapshot.fence():
            items.filter(chain__question_id=last_q).delete()
        chains = chains.filter(question_id__gte=last_q)
    cap = snapshot.max_chains_per_question
    done = items.count()
    per_question = (None, 0)
    batch: list[ChainRow] = []
    for row in chains.values_list("id", "question_id", "text", "version").iterator(chunk_size=2000):
        per_question = (row[1], per_question[1] + 1 if per_question[0] == row[1] else 1)
        if cap and per_question[1] > cap:
            continue
        batch.append(row)
        if len(batch) >= BATCH:
            done += _write_batch(snapshot, batch)
            if on_batch is not None and on_batch(done) is False:
                return done
    done += _write_batch(snapshot, batch)
    freeze_label_questions(snapshot)
    return done


def freeze_label_questions(snapshot: DatasetSnapshot) -> int:
    """Freeze the label-only baselines' questions (every labelled question the filters select); idempotent, so a
    resumed build simply runs it again. Returns how many questions the snapshot holds."""
    ids = label_only_questions(snapshot).values_list("pk", flat=True)
    batch: list[SnapshotQuestion] = []
    for qid in ids.iterator(chunk_size=5000):
        batch.append(SnapshotQuestion(snapshot=snapshot, question_id=qid))
        if len(batch) >= 5000:
            with snapshot.fence():
                SnapshotQuestion.objects.bulk_create(batch, ignore_conflicts=True)
            batch.clear()
    with snapshot.fence():
        SnapshotQuestion.objects.bulk_create(batch, ignore_conflicts=True)
    return SnapshotQuestion.objects.filter(snapshot=snapshot).count()


def training_questions(snapshot: DatasetSnapshot) -> QuerySet[Question]:
    """Every question any run trained on this snapshot could have seen: its frozen chains' and label questions."""
    return Question.objects.filter(
        Q(pk__in=SnapshotItem.objects.filter(snapshot=snapshot).values("chain__question_id"))
        | Q(pk__in=SnapshotQuestion.objects.filter(snapshot=snapshot).values("question_id")))


def frozen_label_questions(snapshot: DatasetSnapshot) -> QuerySet[Question]:
    """The label-only questions frozen with the snapshot (read live only for a snapshot built before freezing
    existed, which has none)."""
    frozen = SnapshotQuestion.objects.filter(snapshot=snapshot)
    if not frozen.exists():
        return label_only_questions(snapshot)
    return (Question.objects.filter(pk__in=frozen.values("question_id")).select_related("clip").order_by("id"))


def _write_batch(snapshot: DatasetSnapshot, chains: list[ChainRow] | list[Chain]) -> int:
    """Current text of each chain (rows of id, question, text, version, or chains): its newest edit in force.

    Only an edit or a ruling can change the text, so only the histories of the batch's chains that have one are
    read (one query): most accepted chains were accepted as they were and keep the teacher's text."""
    if not chains:
        return 0
    rows_in = [c if isinstance(c, tuple) else (c.pk, c.question_id, c.text, c.version) for c in chains]
    ids = [pk for pk, *_ in rows_in]
    touched = Review.objects.filter(chain_id__in=ids, action__in=(Review.Action.EDIT, Review.Action.ADJUDICATE))
    reviews: dict[int, list[Review]] = {}
    for review in (Review.objects.filter(chain_id__in=touched.values("chain_id")).select_related("revision")
                   .order_by("chain_id", "chain_version")):
        reviews.setdefault(review.chain_id, []).append(review)
    rows = [(snapshot.pk, pk, version,
             chain_state(Chain(pk=pk, text=text, version=version), reviews[pk]).text if pk in reviews else text)
            for pk, _qid, text, version in rows_in]
    # COPY on PostgreSQL (no model instances, no insert compiler): a resumed build deleted the last question it
    # froze and the fence keeps a superseded attempt out, so no item is ever written twice
    with snapshot.fence():  # only the build's latest attempt writes
        insert_rows(SnapshotItem, ("snapshot_id", "chain_id", "chain_version", "text"), rows)
    failpoint("snapshot.batch")
    chains.clear()
    return len(rows)


# --- provenance and export ----------------------------------------------------------------------------------
def provenance(snapshot: DatasetSnapshot) -> dict[str, Any]:
    """Teacher runs (kind: teacher or imported from a file; model, prompt version, K, sampling), validators
    (versions, labels, thresholds), curation."""
    items = SnapshotItem.objects.filter(snapshot=snapshot)
    chain_ids = items.values("chain_id")
    teacher_runs = [
        {"run": r.pk, "kind": r.kind, "source_file": r.config.get("source_name"), "model": r.model,
         "backend": r.backend, "prompt_version": r.prompt_version,
         "k": r.samples_per_question, "sampling": r.sampling, "majority_only": r.config.get("majority_only"),
         "chains": n}
        for r, n in _runs_with_counts(items.values("chain__run_id").annotate(n=Count("id")), "chain__run_id")
    ]
    of_record = Verdict.objects.filter(pk__in=items.values("chain__verdict_id"))
    verdicts = (of_record.values("validator", "validator_version", "label").annotate(n=Count("id"))
                .order_by("validator", "validator_version", "label"))
    validator_runs = GenerationRun.objects.filter(pk__in=of_record.values("run_id")).order_by("pk")
    reviews = Review.objects.filter(chain_id__in=chain_ids)
    edited = items.exclude(text=F("chain__text")).count()  # counted in the database, not row by row here
    return {
        "teacher_runs": teacher_runs,
        "flags": flagged_out(snapshot),
        "validators": {
            "verdicts": list(verdicts),
            "runs": [{"run": r.pk, "model": r.model, "config": r.config, "policy": policy_in_force(r)}
                     for r in validator_runs],
            "policies": sorted({policy_in_force(r) for r in validator_runs}),
        },
        "curation": {
            "chains_frozen": items.count(), "chains_edited": edited, "reviews": reviews.count(),
            "chains_adjudicated": reviews.filter(action=Review.Action.ADJUDICATE).values("chain").distinct().count(),
            "curators": reviews.values("curator").distinct().count(),
            "decisions_per_curator": {row["curator__username"]: row["n"] for row in
                                      reviews.values("curator__username").annotate(n=Count("id"))
                                      .order_by("curator__username")},
            "accepted_in_dataset": Chain.objects.filter(question__dataset_id=snapshot.dataset_id,
                                                        decision=Chain.Decision.ACCEPTED).count(),
        },
    }


def _runs_with_counts(rows: QuerySet, key: str) -> list[tuple[GenerationRun, int]]:
    counts = {row[key]: row["n"] for row in rows}
    return [(r, counts[r.pk]) for r in GenerationRun.objects.filter(pk__in=counts).order_by("pk")]


def records(snapshot: DatasetSnapshot) -> Iterator[dict[str, Any]]:
    """The frozen items as export records, streamed in question order (the order the exporter groups by)."""
    fields = ("chain_id", "text", "chain__text", "chain__question_id", "chain__question__text",
              "chain__question__choices", "chain__question__answer_index", "chain__question__answer_text",
              "chain__question__split", "chain__question__question_type", "chain__question__question_relation",
              "chain__question__category", "chain__question__clip__audio_path")
    rows = (SnapshotItem.objects.filter(snapshot=snapshot)
            .order_by("chain__question_id", "chain__sample_index", "chain_id").values_list(*fields))
    for (chain_id, text, original, qid, question, choices, answer_index, answer_text, split, qtype, relation, category,
         audio) in rows.iterator(chunk_size=2000):
        yield {"chain_id": chain_id, "question_id": qid, "text": text, "original_text": original, "question": question,
               "choices": choices,
               "answer_index": answer_index, "answer_text": answer_text, "split": split, "question_type": qtype,
               "question_relation": relation, "category": category, "audio_path": audio}


def hallucination_rejections(snapshot: DatasetSnapshot) -> Iterator[dict[str, Any]]:
    """The rejected side of the snapshot's hallucination pairs, streamed in question order: chains of its questions
    whose decision in force is a rejection with a hallucination reason (replayed from the history, so an undone
    rejection does not count). Read when the snapshot is exported, i.e. at build time."""
    from pipeline.export import HALLUCINATION_REASONS

    question_ids = SnapshotItem.objects.filter(snapshot=snapshot).values("chain__question_id")
    chains = (Chain.objects.filter(question_id__in=question_ids, decision=Chain.Decision.REJECTED,
                                   reviews__reason__in=HALLUCINATION_REASONS).distinct()
              .order_by("question_id", "sample_index", "id").only("id", "question_id", "text", "version"))
    batch: list[Chain] = []

    def rows() -> Iterator[dict[str, Any]]:
        reviews: dict[int, list[Review]] = {}
        for review in (Review.objects.filter(chain_id__in=[c.pk for c in batch]).select_related("revision")
                       .order_by("chain_id", "chain_version")):
            reviews.setdefault(review.chain_id, []).append(review)
        for chain in batch:
            top = chain_state(chain, reviews.get(chain.pk, [])).top
            if top is not None and top.to_decision == Chain.Decision.REJECTED and top.reason in HALLUCINATION_REASONS:
                yield {"chain_id": chain.pk, "question_id": chain.question_id, "text": chain.text}
        batch.clear()

    for chain in chains.iterator(chunk_size=2000):
        batch.append(chain)
        if len(batch) >= BATCH:
            yield from rows()
    yield from rows()


def question_records(questions: QuerySet[Question]) -> Iterator[dict[str, Any]]:
    """Export records of questions alone (no chain): label-only rows and evaluation items (clip selected)."""
    fields = {"question_id": "pk", "question": "text", "choices": "choices", "answer_index": "answer_index",
              "answer_text": "answer_text", "split": "split", "question_type": "question_type",
              "question_relation": "question_relation", "category": "category", "audio_path": "clip__audio_path",
              "sub_category": "sub_category", "difficulty": "difficulty"}
    for row in questions.values_list(*fields.values()).iterator(chunk_size=2000):  # rows, not model instances
        yield dict(zip(fields, row, strict=True))


def label_only_questions(snapshot: DatasetSnapshot) -> QuerySet[Question]:
    """Every labelled question the snapshot's question filters select, accepted chain or not.

    The label-only SFT baseline learns from the label alone, so limiting it to the questions that happen to have
    an accepted chain would starve it of data the chain pipeline never needed to produce. The chain filters
    (verdict label, chains per question) do not apply: these questions have no chain to filter. Like the chains
    (a teacher only sees processed clips), a question counts once its clip is processed. `freeze` stores this set
    as SnapshotQuestions, so later imports into the dataset never change a snapshot's baselines.
    """
    questions = (Question.objects.filter(dataset_id=snapshot.dataset_id, clip__status=Clip.Status.READY)
                 .exclude(Q(answer_index__isnull=True) & Q(answer_text="")).select_related("clip").order_by("id"))
    for key in ("split", "question_type"):
        if snapshot.filters.get(key):
            questions = questions.filter(**{key: snapshot.filters[key]})
    return questions


def default_export_dir(snapshot: DatasetSnapshot) -> str:
    return f"exports/{snapshot.dataset.slug}/v{snapshot.version}"


def export(snapshot: DatasetSnapshot, out_dir: Path | None = None, on_progress: Any = None) -> list[dict[str, Any]]:
    """Write every export file and the card; into the snapshot's own folder unless `out_dir` is given."""
    from pipeline.export import ExportOptions, write_card, write_export

    target = out_dir or storage.resolve(default_export_dir(snapshot))
    embed = bool(snapshot.filters.get("embed_audio"))
    opts = ExportOptions(embed_audio=embed, media_root=str(storage.root()) if embed else None)
    result = write_export(records(snapshot), target, opts, on_progress=on_progress,
                          label_records=question_records(frozen_label_questions(snapshot)),
                          rejected_records=hallucination_rejections(snapshot))
    title = f"{snapshot.dataset.name} v{snapshot.version}{f' ({snapshot.name})' if snapshot.name else ''}"
    card = write_card(target / "README.md", title=title, provenance=snapshot.provenance, result=result,
                      filters={**snapshot.filters, "max_chains_per_question": snapshot.max_chains_per_question},
                      embed_audio=embed)
    files = [*result.files, {"name": "README.md", "rows": 0, "bytes": card.stat().st_size}]
    if out_dir is None:
        DatasetSnapshot.objects.filter(pk=snapshot.pk).update(export_dir=default_export_dir(snapshot),
                                                              export_files=files)
        snapshot.export_dir, snapshot.export_files = default_export_dir(snapshot), files
    return files
