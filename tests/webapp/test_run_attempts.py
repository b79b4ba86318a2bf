"""One live job per run and per clip: every queued job is an attempt, and only the latest may act.

A cancel followed by a resume while the old job still runs, an old job requeued from the RQ dashboard, or a clip
reprocessed while its job waits must never leave two jobs writing one run (or one clip).
"""

from __future__ import annotations

import io
from pathlib import Path

import django_rq
import pytest
from django.core.management import call_command
from django.test import Client

from tests.webapp.test_teacher_runs import _launch, _no_duplicates, avqa, tiny_models  # noqa: F401
from tests.webapp.workers import ROOT, start_worker, wait_for
from webapp.catalog.ingest import JOB as CLIP_JOB
from webapp.catalog.models import Clip, Dataset
from webapp.core.failpoints import ENV, FILE_ENV
from webapp.curation.models import Chain
from webapp.training.jobs import MetricSink
from webapp.training.models import MetricPoint, TrainingRun


def _fresh(run: TrainingRun) -> TrainingRun:
    return TrainingRun.objects.get(pk=run.pk)


@pytest.mark.django_db
def test_a_job_superseded_by_cancel_and_resume_can_neither_finish_the_run_nor_write_its_metrics() -> None:
    run = TrainingRun.objects.create(stage="grpo", base_model="tiny")
    run.enqueue()
    old = _fresh(run)
    assert old.mark_running("job-a")
    old_sink = MetricSink(old)
    old_sink(1, 10, {"loss": 2.0})
    assert _fresh(run).mark_cancelled() and _fresh(run).resume()  # the old job has not noticed yet
    new = _fresh(run)
    assert new.mark_running("job-b")
    MetricSink(new)(1, 10, {"loss": 0.5})  # the new attempt redoes step 1

    old.report_progress(9, 10)
    assert not old.mark_succeeded() and not old.mark_failed("late error of the old attempt")
    row = _fresh(run)
    assert (row.status, row.progress_done, row.error) == ("running", 1, "")

    from webapp.core.models import Superseded

    with pytest.raises(Superseded):
        old_sink(2, 10, {"loss": 9.0})  # the old trainer's next log: it stops, without saving a checkpoint
    assert list(MetricPoint.objects.filter(run=run).values_list("step", "value")) == [(1, 0.5)]


@pytest.mark.django_db(transaction=True)
def test_cancel_then_resume_while_the_old_job_runs_leaves_one_live_job(
    admin_client: Client, avqa: Dataset, tiny_models: dict[str, Path], tmp_path: Path  # noqa: F811
) -> None:
    run = _launch(admin_client, avqa, tiny_models["tiny-qwen2_5-vl"], max_new_tokens=48)
    old_job_id = run.rq_job_id
    latch = tmp_path / "latch"  # the old job holds after its first batch while the admin cancels and resumes
    worker = start_worker(capture=True, **{ENV: "teacher.batch:1", FILE_ENV: str(latch)})
    try:
        wait_for(lambda: latch.exists() and bool(latch.read_text()), worker, "produced a chain")
        assert admin_client.post(f"/runs/{run.pk}/cancel/").status_code == 302
        assert admin_client.post(f"/runs/{run.pk}/resume/").status_code == 302  # the old job is still going
        latch.unlink()
        out, _ = worker.communicate(timeout=300)  # the burst worker drains both jobs: the old one, then the new
    finally:
        if worker.poll() is None:
            worker.kill()
    run.refresh_from_db()
    queue = django_rq.get_queue("gpu")  # jobs are read with the queue's serializer (JSON)
    old_result = queue.fetch_job(old_job_id).return_value()
    new_result = queue.fetch_job(run.rq_job_id).return_value()
    assert old_result == "superseded", out.decode()[-3000:]
    assert new_result == "succeeded" and run.status == "succeeded", (new_result, run.error)
    assert run.attempt == 2
    assert Chain.objects.filter(run=run).count() == avqa.questions.count() * 3
    _no_duplicates(run)

    finished_at = run.finished_at
    for job_id in (old_job_id, run.rq_job_id):  # an admin requeues either job from the RQ dashboard
        queue.enqueue_job(queue.fetch_job(job_id))
    django_rq.get_worker("gpu").work(burst=True)
    run.refresh_from_db()
    assert run.status == "succeeded" and run.finished_at == finished_at
    assert Chain.objects.filter(run=run).count() == avqa.questions.count() * 3


@pytest.mark.django_db(transaction=True)
def test_a_clip_has_one_live_job_and_a_stale_one_writes_nothing(tmp_path: Path, real_videos: Path,
                                                               admin_client: Client, run_worker) -> None:
    call_command("import_avqa", str(ROOT / "tests/fixtures/annotations/avqa_real.json"), videos=str(real_videos),
                 dataset="one", stdout=io.StringIO(), stderr=io.StringIO())
    clip = Clip.objects.order_by("pk").first()
    queue = django_rq.get_queue("default")
    queued = queue.count
    for _ in range(2):  # an impatient admin clicks "reprocess" while the clip's job waits
        admin_client.post(f"/clips/{clip.pk}/reprocess/")
    assert queue.count == queued, "a second job was queued for a clip whose job is alive"

    stale = queue.fetch_job(next(j for j in queue.job_ids if j.startswith(f"process-clip-{clip.pk}-")))
    queue.remove(stale.id)
    stale.delete()  # its worker died and Redis lost it: now a reprocess queues a new attempt
    admin_client.post(f"/clips/{clip.pk}/reprocess/")
    run_worker("default")
    clip.refresh_from_db()
    assert clip.status == "ready" and clip.attempt == 2
    processed_at = clip.processed_at

    queue.enqueue(CLIP_JOB, *stale.args, job_id=stale.id)  # the dead job's payload, requeued from the dashboard
    run_worker("default")
    clip.refresh_from_db()
    assert clip.status == "ready" and clip.processed_at == processed_at


@pytest.mark.django_db
def test_a_training_run_keeps_the_steps_per_second_its_attempt_measured() -> None:
    """The launch forms estimate from it; a resumed attempt measures from its own first step, not from step 0."""
    run = TrainingRun.objects.create(stage="grpo", base_model="tiny")
    run.enqueue()
    run = _fresh(run)
    assert run.mark_running("job-a")
    sink = MetricSink(run)
    sink(40, 100, {"loss": 2.0})  # a resumed attempt starts at step 40
    assert "steps_per_s" not in _fresh(run).progress_metrics  # one point is no rate
    sink(41, 100, {"loss": 1.9})
    sink(45, 100, {"loss": 1.5})
    metrics = _fresh(run).progress_metrics
    assert metrics["steps_per_s"] > 0 and metrics["loss"] == 1.5


@pytest.mark.django_db(transaction=True)
def test_two_workers_handed_the_same_clip_jobs_process_each_clip_once(real_videos: Path) -> None:
    """A job redelivered beside its original (same clip, same attempt) and two real workers taking them side by side:
    the clip's claim (a conditional UPDATE from pending) lets exactly one decode and store it; the other does
    nothing."""
    from rq import Queue
    from rq.registry import FinishedJobRegistry

    call_command("import_avqa", str(ROOT / "tests/fixtures/annotations/avqa_real.json"), videos=str(real_videos),
                 dataset="race", stdout=io.StringIO(), stderr=io.StringIO())
    queue = django_rq.get_queue("default")
    jobs = [queue.fetch_job(job_id) for job_id in queue.job_ids]
    queue.empty()
    ids = [f"{job.id}{copy}" for job in jobs for copy in ("", "-copy")]  # each job next to its copy
    queue.enqueue_many([Queue.prepare_data(CLIP_JOB, job.args, job_id=f"{job.id}{copy}")
                        for job in jobs for copy in ("", "-copy")])
    workers = [start_worker("default") for _ in range(2)]
    for worker in workers:
        assert worker.wait(timeout=600) == 0
    finished = FinishedJobRegistry("default", connection=queue.connection, serializer=queue.serializer)
    done = set(finished.get_job_ids()) & set(ids)  # the registry also holds earlier tests' finished jobs
    results = [(job.args[0], job.return_value()) for job in queue.job_class.fetch_many(
        sorted(done), connection=queue.connection, serializer=queue.serializer)]
    assert len(results) == 2 * len(jobs) == 2 * Clip.objects.count()
    assert sorted(clip for clip, result in results if result == "ready") == sorted(Clip.objects.values_list(
        "pk", flat=True)), "a clip processed twice, or not at all"
    # the other job was refused at the claim, before decoding anything ("superseded: clip …"), not merely kept
    # from storing what it had decoded a second time
    assert all(r == "ready" or r.startswith("superseded: clip") for _, r in results), results
    assert set(Clip.objects.values_list("status", flat=True)) == {"ready"}
