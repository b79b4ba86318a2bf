"""RQ jobs for teacher generation, chain imports and validation: ids in, rows out, written in batches.

Every job is resumable by construction: they skip the questions (or chains) whose results are already
stored, and writes use the unique keys (run, question, sample index) / (chain, run, validator, version) with
ignore_conflicts, so a retried or resumed job never duplicates a row. Each job is one attempt of its run: its
batches land inside `run.fence()`, and a superseded attempt stops at its next batch without writing it.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet

from pipeline.media import load_frames, read_audio
from webapp.catalog.models import Dataset, Question
from webapp.core import shards, storage
from webapp.core.failpoints import failpoint
from webapp.core.models import Superseded
from webapp.core.text import db_safe, db_safe_json
from webapp.curation.flags import flag, flag_run
from webapp.curation.models import Chain, GenerationRun, GenerationShard, TeacherQuestion, Verdict
from webapp.curation.record import keep_verdicts_of_record, verdict_counts
from webapp.curation.runs import launch_validation, policy_settings, server_policy

if TYPE_CHECKING:  # the stage module loads at run time only, inside the job
    from pipeline.chain_import import ChainFile, QuestionInfo
    from pipeline.teacher import QuestionChains

logger = logging.getLogger(__name__)


Part = GenerationRun | GenerationShard  # a whole run's job works on the run, a shard job on its question range


def _narrow_args(part: Part, field: str) -> dict[str, int]:
    """Filter arguments that keep a query to a shard's question range (`field`: the question id's path)."""
    return part.in_range(field) if isinstance(part, GenerationShard) else {}


def _narrow(qs: QuerySet, part: Part, field: str) -> QuerySet:
    return qs.filter(**_narrow_args(part, field))


def generation_shard_job(shard_id: int, attempt: int) -> str:
    """One shard of a teacher or validation run (webapp/core/shards.py): the same work, on its question range."""
    shard = GenerationShard.objects.select_related("run__dataset", "run__source_run").get(pk=shard_id)
    work = _teach if shard.run.kind == GenerationRun.Kind.TEACHER else _validate
    return shard.carry_out(attempt, lambda: work(shard.run, shard))


def _succeed(run: GenerationRun, part: Part, settle: Callable[[], object] | None) -> bool:
    """Mark the part succeeded and, for a shard, close the run if it was the last; `settle` (database writes only)
    runs in the transaction that marks the run succeeded, once. True when the run succeeded."""
    if isinstance(part, GenerationShard):
        if not part.mark_succeeded():
            return False
        with part.closing_run("closing the run failed"):
            return shards.close(run, settle)
    if settle is None:
        return run.mark_succeeded()
    with run.fence():
        if not run.mark_succeeded():
            transaction.set_rollback(True)
            return False
        settle()
    return True


def _teacher_items(questions: QuerySet[Question]) -> Iterator[object]:
    """Frames are loaded lazily, one question at a time, so memory stays flat in the number of questions. Every
    question is listed, stored ones too: the teacher batches the whole order the same way on every attempt."""
    from pipeline.teacher import TeacherItem

    for q in questions.iterator(chunk_size=200):
        paths = list(q.clip.frame_paths)
        fps = len(paths) / q.clip.duration if q.clip.duration else 1.0
        yield TeacherItem(id=str(q.pk), question=q.text, choices=tuple(q.choices), answer_index=q.answer_index,
                          answer_text=q.answer_text, frames=partial(load_frames, storage.root(), paths), fps=fps)


def teacher_job(run_id: int, attempt: int) -> str:
    run = GenerationRun.objects.select_related("dataset").get(pk=run_id)
    return run.carry_out(attempt, lambda: _teach(run, run))


def _teach(run: GenerationRun, part: Part) -> str:
    from pipeline.teacher import TeacherConfig, build_backend, generate_chains

    try:
        questions = _narrow(run.teacher_questions(), part, "pk")
        total = questions.count()
        chains = _narrow(run.chains.all(), part, "question_id")
        done_ids = set(chains.values_list("question_id", flat=True).distinct())
        cfg = TeacherConfig.from_dict({**run.config, "backend_options": server_policy(
            run.config.get("backend", ""), run.config.get("backend_options") or {})})
        backend = build_backend(cfg)
        # Counters start from what earlier attempts stored, so a resumed run's page counts all its chains.
        n_chains, n_kept = chains.count(), chains.filter(kept=True).count()
        done, started, new_chains = len(done_ids), time.monotonic(), 0
        agreement: list[float] = []
        try:
            for result in generate_chains(cfg, _teacher_items(questions), backend,
                                          skip_ids={str(pk) for pk in done_ids}):
                rows = store_question_chains(run, result, part)
                failpoint("teacher.batch")
                done += 1
                n_chains += len(rows)
                new_chains += len(rows)
                n_kept += sum(r.kept for r in rows)
                agreement.append(result.agreement)
                elapsed = max(time.monotonic() - started, 1e-6)
                part.report_progress(done, total, {
                    "chains": n_chains, "kept": n_kept, "chains_per_s": round(new_chains / elapsed, 3),
                    "agreement_mean": round(sum(agreement) / len(agreement), 3),
                })
                if part.should_stop():
                    logger.info("%s stopped after %s questions", part, done)
                    flag(chains)  # the chains it kept are reviewable: flag them too
                    return "cancelled"
        finally:
            backend.close()  # also on cancel and errors: a GPU worker may load another model next
        flag(chains)
    except Superseded:
        raise
    except Exception as exc:
        part.mark_failed(exc)
        raise
    part.report_progress(total, total)
    if _succeed(run, part, None) and (validators := run.question_filter.get("validate_after")):
        launch_validation(run, validators, settings.VALIDATOR_MODEL, include_dropped=False, user=run.created_by)
    return "succeeded"


def store_question_chains(run: GenerationRun, result: QuestionChains, part: Part | None = None) -> list[Chain]:
    """Write one question's selected chains and its agreement, fenced; teacher runs and chain imports both do."""
    rows = [
        Chain(run=run, question_id=int(result.item_id), sample_index=c.sample_index, text=db_safe(c.text),
              parsed_answer=c.parsed_answer if isinstance(c.parsed_answer, int) else None,
              open_answer=db_safe(c.parsed_answer) if isinstance(c.parsed_answer, str) else "",
              is_correct=c.is_correct, kept=c.kept, drop_reason=c.drop_reason, n_tokens=c.n_tokens,
              finish_reason=c.finish_reason, logprob=c.logprob)
        for c in result.chains
    ]
    with (part or run).fence():
        Chain.objects.bulk_create(rows, ignore_conflicts=True)
        TeacherQuestion.objects.bulk_create([_question_stats(run, result)], ignore_conflicts=True)
    return rows


def _question_stats(run: GenerationRun, result: QuestionChains) -> TeacherQuestion:
    """The question's agreement across its K samples, stored beside its chains."""
    majority = result.majority_answer
    return TeacherQuestion(
        run=run, question_id=int(result.item_id), majority_index=majority if isinstance(majority, int) else None,
        majority_text=db_safe(majority) if isinstance(majority, str) else "", agreement=result.agreement,
        n_samples=result.n_samples, n_parsed=result.n_parsed, n_correct=result.n_correct,
    )


def _validation_chains(run: GenerationRun, part: Part) -> QuerySet[Chain]:
    chains = _narrow(run.chains_to_validate(), part, "question_id").select_related("question", "question__clip")
    return chains.exclude(verdicts__run=run).order_by("question__clip_id", "question_id", "sample_index")


def _validation_items(chains: QuerySet[Chain]) -> Iterator[object]:
    """Chains come ordered by clip, and each clip's audio is read once for all its chains; its path goes along so
    the clip's sound-event tags are stored beside it and later validations read them (pipeline/validate/tag_store)."""
    from pipeline.validate import ValidationItem

    current: tuple[int | None, object] = (None, None)
    for chain in chains.iterator(chunk_size=500):
        clip = chain.question.clip
        if current[0] != clip.pk:
            wav = storage.resolve(clip.audio_path)
            current = (clip.pk, (*read_audio(wav), str(wav)))
        audio, sr, wav_path = current[1]  # type: ignore[misc]
        yield ValidationItem(id=str(chain.pk), audio=audio, sr=sr, chain_text=chain.text,
                             question=chain.question.text, choices=tuple(chain.question.choices),
                             clip_id=str(clip.pk), audio_path=wav_path)


def validation_job(run_id: int, attempt: int) -> str:
    run = GenerationRun.objects.select_related("source_run").get(pk=run_id)
    return run.carry_out(attempt, lambda: _validate(run, run))


def _validate(run: GenerationRun, part: Part) -> str:
    from pipeline.validate import ValidationConfig, validate_chains

    try:
        chains = _validation_chains(run, part)
        total = _narrow(run.chains_to_validate(), part, "question_id").count()
        done = total - chains.count()
        cfg = ValidationConfig(validators=run.config["validators"], judge_model=run.config.get("judge_model") or None,
                               judge_backend=run.config.get("judge_backend") or "transformers",
                               judge_backend_options=server_policy(run.config.get("judge_backend") or "",
                                                                   run.config.get("judge_backend_options") or {}),
                               **policy_settings(run.config))
        # earlier attempts' verdicts count too: the page shows the run's (or shard's), not the job's
        counts = verdict_counts(run, **_narrow_args(part, "chain__question_id"))
        batch: list[Verdict] = []
        rate = _Rate()  # this attempt's chains/s, kept with the run: the next launch form estimates from it
        for chain_id, verdicts in validate_chains(cfg, _validation_items(chains)):
            for v in verdicts:
                batch.append(Verdict(
                    chain_id=int(chain_id), run=run, validator=v.validator, validator_version=v.validator_version,
                    label=v.label, score=v.score, rationale=db_safe(v.rationale), raw_output=db_safe(v.raw_output),
                    claims=db_safe_json([c.to_json() for c in v.claims]),
                ))
            counts[verdicts[0].label] = counts.get(verdicts[0].label, 0) + 1  # the first one decides
            done += 1
            rate.tick()
            failpoint("validation.item")
            if len(batch) >= 50:
                _flush(batch, run, part, done, total, counts, rate)
                if part.should_stop():
                    return "cancelled"
            else:  # progress per chain, not per batch of 50: a slow judge still shows it moving
                part.report_progress(done, total, {"verdicts": dict(counts), **rate.metrics()})
        _flush(batch, run, part, done, total, counts, rate)
    except Superseded:
        raise
    except Exception as exc:
        part.mark_failed(exc)
        raise
    if _succeed(run, part, lambda: keep_verdicts_of_record(run)):  # its verdicts become the chains' of record
        _rank_for_review(run)
    return "succeeded"


def _rank_for_review(run: GenerationRun) -> None:
    """The new verdicts reorder the active review queue; a failure here leaves the run succeeded (logged, and the
    next refresh after decisions catches up)."""
    from webapp.curation.review import priority

    try:
        priority.refresh(run.dataset)
    except Exception:
        logger.exception("review priorities of %s not refreshed after validation run %s", run.dataset, run.pk)


class _Rate:
    """Chains per second since this attempt started."""

    def __init__(self) -> None:
        self.started, self.n = time.monotonic(), 0

    def tick(self) -> None:
        self.n += 1

    def metrics(self) -> dict[str, float]:
        return {"chains_per_s": round(self.n / max(time.monotonic() - self.started, 1e-6), 3)} if self.n else {}


def _flush(batch: list[Verdict], run: GenerationRun, part: Part, done: int, total: int, counts: dict[str, int],
           rate: _Rate) -> None:
    with part.fence():
        Verdict.objects.bulk_create(batch, ignore_conflicts=True)
    batch.clear()
    part.report_progress(done, total, {"verdicts": dict(counts), **rate.metrics()})


# --------------------------------------------------------------------------------------- chain imports

MAX_ERRORS_SHOWN = 200  # an import's run page lists this many row errors; the count covers all


def _question_infos(dataset: Dataset) -> dict[str, QuestionInfo]:
    from pipeline.chain_import import QuestionInfo

    rows = dataset.questions.values_list("pk", "external_id", "text", "choices", "answer_index", "answer_text")
    return {ext: QuestionInfo(key=pk, text=text, choices=tuple(choices), answer_index=index, answer_text=answer)
            for pk, ext, text, choices, index, answer in rows.iterator()}


def import_chains_job(run_id: int, attempt: int) -> str:
    run = GenerationRun.objects.select_related("dataset").get(pk=run_id)
    return run.carry_out(attempt, lambda: _import(run))


def _record_file(run: GenerationRun, parsed: ChainFile) -> None:
    """Row errors, and the provenance the rows claim where the form left it blank."""
    fields: dict[str, object] = {}
    if not run.model and (models := parsed.claimed("model")):
        fields["model"] = ", ".join(models)[:500]
    if not run.prompt_version and (versions := parsed.claimed("prompt_version")):
        fields["prompt_version"] = ", ".join(versions)[:64]
    k = max((len(rows) for rows in parsed.groups.values()), default=0)
    fields["samples_per_question"] = min(k, 32_767)
    with run.fence():
        GenerationRun.objects.filter(pk=run.pk).update(**fields)
    for name, value in fields.items():
        setattr(run, name, value)
    run.report_progress(0, len(parsed.groups), {
        "rows": parsed.n_rows, "error_count": len(parsed.errors),
        "errors": [{**e.to_json(), "reason": db_safe(e.reason)} for e in parsed.errors[:MAX_ERRORS_SHOWN]],
    })


def chain_counts(run: GenerationRun) -> dict[str, object]:
    """Chains stored, kept, and how many each drop reason took, counted across every attempt."""
    reasons = Counter(run.chains.exclude(drop_reason="").values_list("drop_reason", flat=True))
    return {"chains": run.chains.count(), "kept": run.chains.filter(kept=True).count(), "dropped": dict(reasons)}


def _import(run: GenerationRun) -> str:
    from pipeline.chain_import import ChainFileError, read_chain_file, select_imported

    try:
        questions = _question_infos(run.dataset)
        try:
            with storage.resolve(run.config["path"]).open("rb") as fh:
                parsed = read_chain_file(fh, questions.get, max_rows=settings.IMPORT_MAX_ROWS)
        except (ChainFileError, OSError) as exc:
            run.mark_failed(f"chains file rejected: {exc}")
            return "failed"
        _record_file(run, parsed)
        done = set(run.chains.values_list("question__external_id", flat=True).distinct())
        n_done = len(done)
        for external_id, rows in parsed.groups.items():
            if external_id in done:
                continue
            store_question_chains(run, select_imported(questions[external_id], rows))
            n_done += 1
            run.report_progress(n_done, len(parsed.groups))
            if run.should_stop():
                flag_run(run.pk)
                return "cancelled"
        flag_run(run.pk)
        run.report_progress(n_done, len(parsed.groups), chain_counts(run))
    except Superseded:
        raise
    except Exception as exc:
        run.mark_failed(exc)
        raise
    if run.mark_succeeded() and (validators := run.question_filter.get("validate_after")):
        launch_validation(run, validators, settings.VALIDATOR_MODEL, include_dropped=False, user=run.created_by)
    logger.info("chain import %s: %s rows, %s errors", run.pk, parsed.n_rows, len(parsed.errors))
    return "succeeded"
