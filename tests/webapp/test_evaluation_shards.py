"""Evaluation runs split into shard jobs (webapp/core/shards.py), on the tiny student and real RQ workers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import Client

from tests.webapp.test_run_shards import kill_shard_1_then_resume
from tests.webapp.test_training_runs import _launch, _tone_dataset, student  # noqa: F401
from webapp.core import storage
from webapp.training.models import EvaluationShard, MetricPoint, TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)

OVERRIDES = {"batch_size": 2, "max_new_tokens": 8}


def _shards(run: TrainingRun) -> list[EvaluationShard]:
    return list(EvaluationShard.objects.filter(run=run).order_by("index"))


def _predictions(run: TrainingRun) -> list[dict]:
    return [json.loads(line) for line in storage.resolve(run.results["predictions"]).read_text().splitlines()]


@pytest.fixture
def tones(media_root: Path):
    return _tone_dataset(media_root, 6)


@pytest.fixture
def three_shards(settings, admin_client: Client, tones, student: Path) -> TrainingRun:  # noqa: F811
    settings.RUN_SHARD_QUESTIONS = 2
    return _launch(admin_client, stage="eval", name="sharded", base_model=str(student), eval_dataset=tones.pk,
                   overrides=OVERRIDES)


def test_a_small_evaluation_is_one_job_as_before(admin_client: Client, tones, student: Path) -> None:  # noqa: F811
    run = _launch(admin_client, stage="eval", base_model=str(student), eval_dataset=tones.pk, overrides=OVERRIDES)
    assert not EvaluationShard.objects.filter(run=run).exists() and run.rq_job_id


def test_a_sharded_evaluation_scores_every_item_exactly_as_one_job_does(
        settings, admin_client: Client, tones, student: Path, run_worker) -> None:  # noqa: F811
    overrides = {**OVERRIDES, "limit": 5}  # the first five questions: the last shard is shorter
    whole = _launch(admin_client, stage="eval", name="one job", base_model=str(student), eval_dataset=tones.pk,
                    overrides=overrides)
    settings.RUN_SHARD_QUESTIONS = 2
    split = _launch(admin_client, stage="eval", name="three shards", base_model=str(student),
                    eval_dataset=tones.pk, overrides=overrides)
    shards = _shards(split)
    assert len(shards) == 3 and not split.rq_job_id and [s.progress_total for s in shards] == [2, 2, 1]
    run_worker("gpu")
    whole.refresh_from_db()
    split.refresh_from_db()
    assert whole.status == split.status == "succeeded", whole.error + split.error
    assert all(s.status == "succeeded" and s.progress_done == s.progress_total for s in _shards(split))
    # Accuracy, its bootstrap CI, the slices and rates: over all five items, equal to the unsplit run's.
    assert split.results["n"] == 5 and split.results["summary"]["ci_low"] is not None
    for key in ("accuracy", "n", "per_slice", "summary", "generation", "prompt", "stopped_early"):
        assert split.results[key] == whole.results[key], key
    assert _predictions(split) == _predictions(whole)
    assert split.progress_done == split.progress_total == 5 and split.progress_metrics["shards_done"] == 3
    assert split.progress_metrics["correct"] == round(split.results["accuracy"] * 5)
    assert MetricPoint.objects.filter(run=split, name="eval/accuracy").count() == 1
    assert split.environment["stage_config"]["model_name_or_path"] == str(student)
    page = admin_client.get(f"/training/{split.pk}/").content.decode()
    assert 'id="shards"' in page and page.count('<tr id="shard-') == 3
    assert admin_client.get(f"/training/{split.pk}/predictions/?show=all").content.decode().count("<tr>") == 6


def test_a_killed_evaluation_shard_resumes_alone_and_its_stale_attempt_cannot_write(
        three_shards: TrainingRun, admin_client: Client, run_worker) -> None:
    run = three_shards
    kill_shard_1_then_resume(run, lambda: admin_client.post(f"/training/{run.pk}/resume/"), run_worker)
    assert not run.results
    done = {s.index: storage.resolve(s.output_dir) / "predictions.jsonl" for s in _shards(run) if s.index != 1}
    stamps = {i: p.stat().st_mtime_ns for i, p in done.items()}
    run_worker("gpu")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.results["n"] == 6 and len(_predictions(run)) == 6
    assert {i: p.stat().st_mtime_ns for i, p in done.items()} == stamps  # the other shards were not scored again


def test_cancel_stops_every_evaluation_shard(three_shards: TrainingRun, admin_client: Client, run_worker) -> None:
    run = three_shards
    assert admin_client.post(f"/training/{run.pk}/cancel/").status_code == 302
    assert [s.status for s in _shards(run)] == ["cancelled"] * 3
    run_worker("gpu")
    run.refresh_from_db()
    assert run.status == "cancelled" and not run.results


def test_a_failed_join_of_the_shards_fails_the_run_and_a_resume_joins_them_again(
        three_shards: TrainingRun, admin_client: Client, run_worker) -> None:
    """The last shard scores the run from every shard's predictions; when that fails (a shard's file unreadable),
    the run used to stay `running` for ever, its shards all succeeded, nothing left for a resume to queue."""
    import django_rq

    from webapp.core.job_policy import JSONSimpleWorker

    run = three_shards
    django_rq.get_worker("gpu", worker_class=JSONSimpleWorker).work(burst=True, max_jobs=2)
    first = storage.resolve(_shards(run)[0].output_dir) / "predictions.jsonl"
    kept = first.read_text()
    first.write_text("{not json\n")
    run_worker("gpu")
    run.refresh_from_db()
    assert run.status == "failed" and "joining the shards' predictions failed" in run.error
    assert [s.status for s in _shards(run)] == ["succeeded", "succeeded", "failed"]
    first.write_text(kept)
    assert admin_client.post(f"/training/{run.pk}/resume/").status_code == 302
    run_worker("gpu")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.results["n"] == 6 and len(_predictions(run)) == 6
