"""Launching, cancelling and resuming generation/validation runs: the rules live here, views stay thin."""

from __future__ import annotations

import uuid
from typing import Any

import django_rq
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from webapp.core.models import RunStatus
from webapp.curation.models import GenerationRun


def enqueue(run: GenerationRun) -> None:
    """Queue the run's job when the transaction commits; the job id is stored so recovery can find it."""
    from webapp.curation.jobs import teacher_job, validation_job

    func = teacher_job if run.kind == GenerationRun.Kind.TEACHER else validation_job
    job_id = f"{run.kind}-{run.pk}-{uuid.uuid4().hex[:8]}"
    GenerationRun.objects.filter(pk=run.pk).update(rq_job_id=job_id)
    run.rq_job_id = job_id
    queue = django_rq.get_queue(run.queue_name)
    transaction.on_commit(
        lambda: queue.enqueue(func, run.pk, job_id=job_id, job_timeout=7 * 24 * 3600,
                              description=f"{run.get_kind_display()} run {run.pk}")
    )


# Questions per backend call for vLLM and servers: they batch continuously, so bigger calls keep them busy
# (transformers keeps TeacherConfig's 4: its padded batches grow slower with size).
SERVING_BATCH_QUESTIONS = 32


def launch_generation(data: dict[str, Any], user: AbstractBaseUser | None,
                      backend_options: dict[str, Any] | None = None) -> GenerationRun:
    from pipeline.prompts import get_prompt

    prompt = get_prompt(data["prompt_version"])
    sampling = {k: data[k] for k in ("temperature", "top_p", "max_new_tokens", "seed")}
    config = {
        "model": data["model"], "backend": data["backend"], "backend_options": dict(backend_options or {}),
        "prompt_version": prompt.version, "k": data["k"],
        **sampling, "majority_only": data["majority_only"],
    }
    if data["backend"] != "transformers":
        config["batch_size"] = SERVING_BATCH_QUESTIONS
    with transaction.atomic():
        run = GenerationRun.objects.create(
            dataset=data["dataset"], kind=GenerationRun.Kind.TEACHER, split=data.get("split") or "",
            model=data["model"], backend=data["backend"], prompt_version=prompt.version, prompt_template=prompt.text,
            samples_per_question=data["k"], sampling=sampling, config=config, created_by=user,
            question_filter={k: data[k] for k in ("question_type", "limit", "validate_after") if data.get(k)},
        )
        enqueue(run)
    return run


def launch_validation(source: GenerationRun, validators: str, judge_model: str, *, include_dropped: bool,
                      user: AbstractBaseUser | None, judge_backend: str = "transformers",
                      backend_options: dict[str, Any] | None = None) -> GenerationRun:
    with transaction.atomic():
        run = GenerationRun.objects.create(
            dataset=source.dataset, kind=GenerationRun.Kind.VALIDATION, source_run=source, split=source.split,
            model=judge_model if validators != "sound-events" else "",
            backend=judge_backend if validators != "sound-events" else "",
            config={"validators": validators, "judge_model": judge_model, "include_dropped": include_dropped,
                    "judge_backend": judge_backend, "judge_backend_options": dict(backend_options or {})},
            created_by=user,
        )
        enqueue(run)
    return run


def cancel(run: GenerationRun) -> bool:
    """Queued runs never start; running jobs stop at their next batch boundary."""
    return run.mark_cancelled()


def resume(run: GenerationRun) -> bool:
    with transaction.atomic():
        if not run.requeue():
            return False
        enqueue(run)
    return True


def is_cancelled(run: GenerationRun) -> bool:
    return GenerationRun.objects.filter(pk=run.pk, status=RunStatus.CANCELLED).exists()
