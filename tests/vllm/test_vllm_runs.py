"""Runs from the web app choose their backend: the same teacher run through transformers and vLLM stores the same
chains, and a validation run judges through an OpenAI-compatible server. Real RQ workers, real Redis, real engines.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tests.vllm.test_vllm_serving import start_server, wait_healthy
from tests.webapp.conftest import (  # noqa: F401 - fixtures
    admin_client,
    decode_cache,
    empty_queues,
    media_root,
    real_videos,
    run_worker,
    users,
)
from tests.webapp.test_teacher_runs import avqa  # noqa: F401 - avqa is a fixture
from tests.webapp.workers import ROOT, worker_env
from webapp.catalog.models import Dataset
from webapp.curation.models import Chain, GenerationRun, Verdict

pytestmark = pytest.mark.django_db(transaction=True)


def _teacher(client: Client, dataset: Dataset, model: Path, backend: str, **extra: object) -> GenerationRun:
    data = {"dataset": dataset.pk, "model": str(model), "backend": backend, "prompt_version": "teacher-v1", "k": 2,
            "temperature": 0.0, "top_p": 1.0, "max_new_tokens": 16, "seed": 0, "limit": 3, **extra}
    r = client.post("/runs/new/", data)
    assert r.status_code == 302, r.content.decode()[:2000]
    return GenerationRun.objects.latest("pk")


def _drain_in_subprocess(queue: str) -> None:
    """A real `rqworker` process: each job's work-horse owns its engine, as on a GPU worker."""
    done = subprocess.run([sys.executable, "manage.py", "rqworker", queue, "--burst"], cwd=ROOT, env=worker_env(),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_a_teacher_run_stores_the_same_chains_through_vllm_as_through_transformers(
        admin_client: Client, avqa: Dataset, tiny_models: dict[str, Path]) -> None:  # noqa: F811
    model = tiny_models["tiny-qwen2_5-vl"]
    hf_run = _teacher(admin_client, avqa, model, "transformers")
    vllm_run = _teacher(admin_client, avqa, model, "vllm")
    assert vllm_run.queue_name == "gpu" and vllm_run.config["backend"] == "vllm"
    _drain_in_subprocess("gpu")
    for run in (hf_run, vllm_run):
        run.refresh_from_db()
        assert run.status == "succeeded", run.error
    fields = ("question_id", "sample_index", "text", "n_tokens", "finish_reason", "parsed_answer", "kept")
    hf_chains = list(Chain.objects.filter(run=hf_run).order_by("question_id", "sample_index").values_list(*fields))
    vllm_chains = list(Chain.objects.filter(run=vllm_run).order_by("question_id", "sample_index")
                       .values_list(*fields))
    assert len(hf_chains) == 3 * 2
    assert vllm_chains == hf_chains  # greedy: the same frames and prompt give the same tokens on both backends
    page = admin_client.get(f"/runs/{vllm_run.pk}/").content.decode()
    assert "vllm" in page


def test_a_validation_run_judges_through_an_openai_compatible_server(
        admin_client: Client, avqa: Dataset, tiny_models: dict[str, Path], run_worker,  # noqa: F811
        tmp_path: Path, settings) -> None:
    settings.MODEL_SERVER_KEY_ENVS = ["SIGHTSOUND_JUDGE_KEY"]  # what this deployment allows as a key variable
    settings.MODEL_SERVER_PRIVATE_HOSTS = ["127.0.0.1"]  # and the private host its model server runs on
    teacher = _teacher(admin_client, avqa, tiny_models["tiny-qwen2_5-vl"], "transformers", limit=2)
    run_worker("gpu")
    teacher.refresh_from_db()
    assert teacher.status == "succeeded", teacher.error
    # A random teacher writes no sound claim, and the judge (judge-v2) is asked about claims only: give the chains
    # some to judge, so every chain's verdict comes from the server.
    Chain.objects.filter(run=teacher).update(
        text="<think>A dog barks twice, then a car horn honks.</think><answer>A</answer>")
    proc, url = start_server(tiny_models["tiny-qwen2-audio"], "judge", {"audio": 1}, tmp_path / "judge.log")
    try:
        wait_healthy(proc, url, tmp_path / "judge.log")
        r = admin_client.post("/runs/validate/", {
            "source_run": teacher.pk, "validators": "lalm", "judge_model": "judge", "judge_backend": "openai",
            "endpoint": f"{url}/v1", "server_kind": "vllm", "api_key_env": "SIGHTSOUND_JUDGE_KEY",
            "include_dropped": "on"})  # a random teacher's chains are wrong, so its policy keeps none
        assert r.status_code == 302, r.content.decode()[:2000]
        validation = GenerationRun.objects.latest("pk")
        assert validation.queue_name == "default"  # only HTTP requests: no GPU worker needed
        assert validation.config["judge_backend_options"]["base_url"] == f"{url}/v1"
        run_worker("default")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    validation.refresh_from_db()
    assert validation.status == "succeeded", validation.error
    verdicts = Verdict.objects.filter(run=validation)
    assert verdicts.count() == Chain.objects.filter(run=teacher).count() == 2 * 2
    # structured output: every judge reply parsed as JSON, none fell back to the lenient parser's guesses
    assert all("parsed as json" in v.rationale for v in verdicts), [v.rationale for v in verdicts]
