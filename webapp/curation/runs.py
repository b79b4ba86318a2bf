"""Launching generation and validation runs: the stage config a run stores, built from the admin's form.

Cancel and resume are the same for every run (`Run.mark_cancelled`, `Run.resume`); a queued run never starts and a
running teacher or validation job stops at its next batch boundary, keeping what it stored.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from webapp.curation.models import GenerationRun

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
        **sampling, "majority_only": data["majority_only"], "min_agreement": data.get("min_agreement") or 0.0,
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
        run.enqueue()
    return run


POLICY_KEYS = ("policy", "pass_score", "fail_score", "min_claims")


def policy_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The chain-policy settings a validation run stores, as `ValidationConfig` fields (absent: the defaults)."""
    return {k: config[k] for k in POLICY_KEYS if k in config}


def _policy_config(policy: str) -> dict[str, Any]:
    """The policy in force and every threshold it reads, frozen into the run's config when it is launched."""
    from pipeline.validate.verdicts import ValidationConfig, policy_version

    cfg = ValidationConfig(policy=policy)  # type: ignore[arg-type]
    return {**{k: getattr(cfg, k) for k in POLICY_KEYS}, "policy_version": policy_version(cfg)}


def launch_validation(source: GenerationRun, validators: str, judge_model: str, *, include_dropped: bool,
                      user: AbstractBaseUser | None, judge_backend: str = "transformers",
                      backend_options: dict[str, Any] | None = None,
                      policy: str = "any-contradiction") -> GenerationRun:
    with transaction.atomic():
        run = GenerationRun.objects.create(
            dataset=source.dataset, kind=GenerationRun.Kind.VALIDATION, source_run=source, split=source.split,
            model=judge_model if validators != "sound-events" else "",
            backend=judge_backend if validators != "sound-events" else "",
            config={"validators": validators, "judge_model": judge_model, "include_dropped": include_dropped,
                    "judge_backend": judge_backend, "judge_backend_options": dict(backend_options or {}),
                    **_policy_config(policy)},
            created_by=user,
        )
        run.enqueue()
    return run


def server_policy(backend: str, options: dict[str, Any]) -> dict[str, Any]:
    """A run's backend options as the worker uses them: an OpenAI-compatible client gets the deployment's allow-lists
    (key variables, private hosts), which nothing a form stores can widen."""
    if backend != "openai":
        return dict(options)
    from django.conf import settings

    return {**options, "allowed_key_envs": list(settings.MODEL_SERVER_KEY_ENVS),
            "private_hosts": list(settings.MODEL_SERVER_PRIVATE_HOSTS)}


def policy_in_force(run: GenerationRun) -> str:
    """A validation run's chain policy in words (its run page says it); blank for a teacher run."""
    if run.kind != GenerationRun.Kind.VALIDATION:
        return ""
    from pipeline.validate.verdicts import describe_policy

    return describe_policy(run.config)
