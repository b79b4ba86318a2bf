"""Teacher and validation runs split into shard jobs (webapp/core/shards.py), on the tiny models and real RQ workers."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import django_rq
import psutil
import pytest
from django.test import Client
from rq.registry import StartedJobRegistry

from tests.webapp.test_teacher_runs import _launch, _no_duplicates, avqa, tiny_models  # noqa: F401
from tests.webapp.workers import start_worker, wait_for
from webapp.catalog.models import Dataset
from webapp.core.failpoints import ENV, FILE_ENV
from webapp.core.models import Superseded
from webapp.core.recovery import recover
from webapp.core.shards import plan_ranges, roll_up
from webapp.curation.models import Chain, GenerationRun, GenerationShard, Verdict
from webapp.curation.runs import launch_validation

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_plans_ranges_that_hold_every_question_exactly_once() -> None:
    rng = random.Random(0)
    for _ in range(200):
        ids = sorted(rng.sample(range(1, 10_000), rng.randint(0, 300)))
        units = [(pk, rng.randint(1, 8)) for pk in ids]
        size = rng.randint(1, 50)
        ranges = plan_ranges(units, size)
        for pk, _n in units:
            assert sum(lo <= pk < hi for lo, hi, _ in ranges) == 1
        assert all(sum(lo <= pk < hi for pk in ids) <= size for lo, hi, _ in ranges)
        assert sum(n for *_, n in ranges) == sum(n for _, n in units)
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))  # no id falls between two


@pytest.fixture
def three_shards(settings, admin_client: Client, avqa: Dataset,  # noqa: F811
                 tiny_models: dict[str, Path]) -> GenerationRun:  # noqa: F811
    settings.RUN_SHARD_QUESTIONS = 2
    return _launch(admin_client, avqa, tiny_models["tiny-qwen2_5-vl"], limit=6, validate_after="sound-events")


def _shards(run: GenerationRun) -> list[GenerationShard]:
    return list(GenerationShard.objects.filter(run=run).order_by("index"))


def test_a_small_run_is_one_job_as_before(admin_client: Client, avqa: Dataset,  # noqa: F811
                                          tiny_models: dict[str, Path]) -> None:  # noqa: F811
    run = _launch(admin_client, avqa, tiny_models["tiny-qwen2_5-vl"], limit=4)
    assert not GenerationShard.objects.filter(run=run).exists() and run.rq_job_id


def test_a_run_of_three_shards_ends_succeeded_with_every_chain_once_and_validation_chained_once(
        three_shards: GenerationRun, admin_client: Client, run_worker) -> None:
    run = three_shards
    shards = _shards(run)
    assert len(shards) == 3 and not run.rq_job_id and all(s.rq_job_id and s.attempt == 1 for s in shards)
    assert [s.progress_total for s in shards] == [2, 2, 2]
    run_worker("gpu")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert Chain.objects.filter(run=run).count() == 6 * 3
    _no_duplicates(run)
    assert all(s.status == "succeeded" and s.progress_done == s.progress_total == 2 for s in _shards(run))
    assert run.progress_done == run.progress_total == 6
    assert run.progress_metrics["chains"] == 18 and run.progress_metrics["shards_done"] == 3
    chained = GenerationRun.objects.get(source_run=run)  # exactly one, launched by the last shard
    # The tiny teacher keeps few chains; judging the dropped ones too gives a validation run of three shards.
    validation = launch_validation(run, "sound-events", "", include_dropped=True, user=None)
    assert validation.shards.count() == 3
    run_worker("default")
    chained.refresh_from_db()
    validation.refresh_from_db()
    assert chained.status == validation.status == "succeeded", chained.error + validation.error
    chains = Chain.objects.filter(run=run)
    assert Verdict.objects.filter(run=validation).values("chain").distinct().count() == chains.count()
    assert chains.filter(verdict__run=validation).count() == 18  # its verdicts became the record when it closed
    page = admin_client.get(f"/runs/{run.pk}/").content.decode()
    assert 'id="shards"' in page and page.count('<tr id="shard-') == 3


def kill_shard_1_then_resume(run: Any, resume: Callable[[], object], run_worker: Callable[..., None]) -> None:
    """Shard 1's worker dies with its job while the others finish: recovery fails the run, and `resume` (the page's
    button) queues shard 1 alone, as a new attempt; the dead attempt's writes are refused. Any kind of sharded run."""
    killed = run.shard_set().get(index=1)
    django_rq.get_queue("gpu").fetch_job(killed.rq_job_id).delete()  # its worker died with it: the job is gone
    run_worker("gpu")
    run.refresh_from_db()
    assert run.status == "running"  # two shards done, one never will be
    assert recover().runs_failed == 1
    run.refresh_from_db()
    assert run.status == "failed" and "shard 1" in run.error
    resume()
    assert [(s.status, s.attempt) for s in run.shard_set().order_by("index")] == [
        ("succeeded", 1), ("queued", 2), ("succeeded", 1)]
    with pytest.raises(Superseded), killed.fence():
        pass


def test_a_killed_shard_resumes_alone_and_a_stale_attempt_cannot_write(three_shards: GenerationRun,
                                                                         admin_client: Client, run_worker) -> None:
    run = three_shards
    kill_shard_1_then_resume(run, lambda: admin_client.post(f"/runs/{run.pk}/resume/"), run_worker)
    before = dict(Chain.objects.filter(run=run).values_list("pk", "created_at"))
    assert len(before) == 4 * 3 and not GenerationRun.objects.filter(source_run=run).exists()
    run_worker("gpu")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    after = dict(Chain.objects.filter(run=run).values_list("pk", "created_at"))
    assert len(after) == 6 * 3 and all(after[pk] == at for pk, at in before.items())  # the others' chains untouched
    _no_duplicates(run)
    assert GenerationRun.objects.filter(source_run=run).count() == 1


def test_a_failed_shard_fails_the_run_while_the_others_finish(three_shards: GenerationRun, run_worker) -> None:
    run = three_shards
    broken = _shards(run)[0]
    first = run.teacher_questions().filter(**broken.in_range("pk")).first()
    first.clip.frame_paths = ["missing/frame.jpg"]  # its frames cannot be read: the shard raises
    first.clip.save(update_fields=["frame_paths"])
    run_worker("gpu")
    run.refresh_from_db()
    assert run.status == "failed" and "shard 0" in run.error
    assert [s.status for s in _shards(run)] == ["failed", "succeeded", "succeeded"]
    assert Chain.objects.filter(run=run).count() == 4 * 3


def test_cancel_stops_every_shard(three_shards: GenerationRun, admin_client: Client, run_worker) -> None:
    run = three_shards
    assert admin_client.post(f"/runs/{run.pk}/cancel/").status_code == 302
    assert [s.status for s in _shards(run)] == ["cancelled"] * 3
    run_worker("gpu")
    run.refresh_from_db()
    assert run.status == "cancelled" and not Chain.objects.filter(run=run).exists()


def test_a_running_shard_stops_once_the_run_is_cancelled(three_shards: GenerationRun) -> None:
    shard = _shards(three_shards)[0]
    assert shard.mark_running("job", attempt=1) and not shard.should_stop()
    GenerationRun.objects.filter(pk=three_shards.pk).update(status="running")
    three_shards.refresh_from_db()
    assert three_shards.mark_cancelled()
    assert shard.should_stop()


def test_the_runs_progress_is_the_sum_of_its_shards(three_shards: GenerationRun) -> None:
    a, b, c = _shards(three_shards)
    a.report_progress(2, 2, {"chains": 6, "chains_per_s": 1.5, "verdicts": {"pass": 2}})
    b.report_progress(1, 2, {"chains": 3, "chains_per_s": 0.5, "verdicts": {"pass": 1, "fail": 1}})
    roll_up(three_shards)
    three_shards.refresh_from_db()
    assert (three_shards.progress_done, three_shards.progress_total) == (3, 6)
    metrics = three_shards.progress_metrics
    assert metrics["chains"] == 9 and metrics["chains_per_s"] == 1.0 and metrics["verdicts"] == {"pass": 3, "fail": 1}
    assert metrics["shards"] == 3 and c.progress_done == 0


def _fail_shard_0_then_hold_shard_1(run: GenerationRun, latch: Path) -> tuple[object, list[str]]:
    """A real worker: shard 0 fails on a clip whose frames are gone (so the run fails), then shard 1 holds after
    its first stored question. Returns the worker and the clip's frames, to put back before a resume."""
    first = run.teacher_questions().filter(**_shards(run)[0].in_range("pk")).first()
    frames = first.clip.frame_paths
    first.clip.frame_paths = ["missing/frame.jpg"]
    first.clip.save(update_fields=["frame_paths"])
    worker = start_worker("gpu", capture=True, **{ENV: "teacher.batch:1", FILE_ENV: str(latch)})
    wait_for(lambda: latch.exists() and bool(latch.read_text()), worker, "held shard 1 after a question")
    run.refresh_from_db()
    assert run.status == "failed" and [s.status for s in _shards(run)] == ["failed", "running", "queued"]
    first.clip.frame_paths = frames
    first.clip.save(update_fields=["frame_paths"])
    return worker, frames


def test_resume_leaves_a_shard_whose_job_is_at_work_to_it(three_shards: GenerationRun, admin_client: Client,
                                                           tmp_path: Path) -> None:
    run, latch = three_shards, tmp_path / "latch"
    worker, _ = _fail_shard_0_then_hold_shard_1(run, latch)
    try:
        before = dict(Chain.objects.filter(run=run).values_list("pk", "created_at"))  # shard 1's first question
        assert admin_client.post(f"/runs/{run.pk}/resume/").status_code == 302
        # Only the failed shard is a new attempt; the running one and the queued one keep their live jobs.
        assert [(s.status, s.attempt) for s in _shards(run)] == [("queued", 2), ("running", 1), ("queued", 1)]
        run.refresh_from_db()
        assert run.status == "running"
        latch.unlink()
        out, _ = worker.communicate(timeout=300)
    finally:
        if worker.poll() is None:
            worker.kill()
    run.refresh_from_db()
    assert run.status == "succeeded", (run.error, out.decode()[-3000:])
    assert [(s.status, s.attempt) for s in _shards(run)] == [("succeeded", 2), ("succeeded", 1), ("succeeded", 1)]
    after = dict(Chain.objects.filter(run=run).values_list("pk", "created_at"))
    assert before and len(after) == 6 * 3 and all(after[pk] == at for pk, at in before.items())
    _no_duplicates(run)
    assert GenerationRun.objects.filter(source_run=run).count() == 1


def test_resume_queues_again_a_running_shard_whose_worker_stopped_sending_heartbeats(
        three_shards: GenerationRun, admin_client: Client, tmp_path: Path, run_worker) -> None:
    run, latch = three_shards, tmp_path / "latch"
    worker, _ = _fail_shard_0_then_hold_shard_1(run, latch)
    for process in [*psutil.Process(worker.pid).children(recursive=True), psutil.Process(worker.pid)]:
        process.kill()  # the machine died: nobody marks the job failed, its heartbeat just stops
    worker.wait(timeout=60)
    queue = django_rq.get_queue("gpu")
    held = _shards(run)[1]
    assert queue.fetch_job(held.rq_job_id).get_status() == "started"
    registry = StartedJobRegistry(queue=queue)
    # What RQ sees once the heartbeat's time to live (about 90 s) has passed: the entry's expiry is behind us.
    queue.connection.zadd(registry.key, {entry: 1 for entry in queue.connection.zrange(registry.key, 0, -1)})
    assert admin_client.post(f"/runs/{run.pk}/resume/").status_code == 302
    assert [(s.status, s.attempt) for s in _shards(run)] == [("queued", 2), ("queued", 2), ("queued", 1)]
    latch.unlink()
    run_worker("gpu")
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert Chain.objects.filter(run=run).count() == 6 * 3
    _no_duplicates(run)


def test_a_shard_left_at_work_by_a_resume_still_fails_its_run(three_shards: GenerationRun,
                                                              admin_client: Client) -> None:
    run = three_shards
    failed, left = _shards(run)[:2]  # `left` was loaded by its job before the resume: its run at attempt 1
    assert left.run.attempt == 1  # as its job's frame (Shard.carry_out) holds it
    assert failed.mark_running("job", attempt=1) and failed.mark_failed("boom")
    assert admin_client.post(f"/runs/{run.pk}/resume/").status_code == 302
    assert [(s.status, s.attempt) for s in _shards(run)][:2] == [("queued", 2), ("queued", 1)]  # its job is alive
    assert left.mark_running(left.rq_job_id, attempt=1) and left.mark_failed("out of memory")
    run.refresh_from_db()
    assert run.status == "failed" and "shard 1" in run.error


def test_a_sharded_validation_that_fails_to_close_fails_and_a_resume_closes_it(
        three_shards: GenerationRun, admin_client: Client, run_worker, monkeypatch) -> None:
    """The last shard makes the run's verdicts the chains' of record as it closes the run; when that failed (here
    the database dropping the connection) the run stayed running, every shard succeeded, nothing to resume."""
    from django.db import OperationalError

    from webapp.curation import jobs

    run = three_shards
    run_worker("gpu")
    validation = launch_validation(run, "sound-events", "", include_dropped=True, user=None)
    assert validation.shards.count() == 3

    def dropped(_run: GenerationRun) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(jobs, "keep_verdicts_of_record", dropped)
    run_worker("default")
    validation.refresh_from_db()
    assert validation.status == "failed" and "closing the run failed" in validation.error
    assert sorted(s.status for s in validation.shards.all()) == ["failed", "succeeded", "succeeded"]
    monkeypatch.undo()
    assert admin_client.post(f"/runs/{validation.pk}/resume/").status_code == 302
    run_worker("default")
    validation.refresh_from_db()
    assert validation.status == "succeeded", validation.error
    assert Chain.objects.filter(run=run, verdict__run=validation).count() == 18
