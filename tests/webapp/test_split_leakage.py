"""Split leakage on the dataset page, computed by the same check that refuses in-sample evaluations."""

from __future__ import annotations

import django_rq
import pytest
from django.test import Client

from tests.webapp.review_factories import make_dataset, make_question
from webapp.catalog.leakage import dataset_leaks
from webapp.catalog.models import Clip, Dataset

pytestmark = pytest.mark.django_db(transaction=True)


def _leaky(slug: str = "leaky") -> Dataset:
    """train: q1 (clip1), q2 (clip2); test: q3 on clip1 itself, q4 on a copy of clip2's bytes, q5 asking q1's
    question on a clip of its own, q6 clean."""
    ds = make_dataset(slug)
    q1 = make_question(ds, 1, chains=0, split="train")
    q2 = make_question(ds, 2, chains=0, split="train")
    Clip.objects.filter(pk=q2.clip_id).update(media_sha256="ab" * 32)
    make_question(ds, 3, chains=0, split="test", clip=q1.clip)
    copy = Clip.objects.create(dataset=ds, name="reupload", kind="video", media_path="m/r.mp4", status="ready",
                               media_sha256="ab" * 32)
    make_question(ds, 4, chains=0, split="test", clip=copy)
    q5 = make_question(ds, 5, chains=0, split="test")
    q5.text = q1.text.upper()
    q5.save(update_fields=["text"])
    make_question(ds, 6, chains=0, split="test")
    return ds


def test_it_finds_a_clip_or_question_shared_by_the_train_and_test_splits(curator_client: Client) -> None:
    ds = _leaky()
    (row,) = dataset_leaks(ds)
    assert (row.trained, row.evaluated) == ("train", "test")
    assert (row.found.questions, row.found.clips, row.found.texts) == (0, 2, 1)
    assert row.found.examples == ["3", "4"]
    page = curator_client.get(f"/datasets/{ds.slug}/").content.decode()
    assert f'hx-get="/datasets/{ds.slug}/leaks/"' in page and '<span class="tag bad">' not in page  # loads after
    html = curator_client.get(f"/datasets/{ds.slug}/leaks/", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="split-leakage"' in html and '<span class="tag bad">2</span>' in html and "hx-get" not in html


def test_the_question_list_does_not_wait_for_the_leak_report(curator_client: Client) -> None:
    """Uncached, the report takes minutes at AVQA size (the page answered 503 after the statement timeout at 500k
    questions): the page renders without computing it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ds = _leaky()
    with CaptureQueriesContext(connection) as ctx:
        assert curator_client.get(f"/datasets/{ds.slug}/").status_code == 200
    # the report (or even its cache key, a MAX over every clip's processing time) is not computed for the page
    assert not any("processed_at" in q["sql"] and "MAX(" in q["sql"].upper() for q in ctx.captured_queries)


def test_it_finds_a_test_clip_another_dataset_trains_on(curator_client: Client) -> None:
    ds = _leaky()
    other = make_dataset("other")
    make_question(other, 7, chains=0, split="train", clip=Clip.objects.create(
        dataset=other, name="clip6", kind="video", media_path="m/o.mp4", status="ready"))  # q6's video, imported again
    rows = {(r.trained, r.evaluated): r.found for r in dataset_leaks(ds)}
    assert rows[("other · train", "test")].clips == 1 and rows[("other · train", "test")].examples == ["6"]


def test_the_leak_report_shows_a_leak_added_after_it_was_last_shown(curator_client: Client) -> None:
    ds = _leaky()
    report = f"/datasets/{ds.slug}/leaks/"
    assert '<span class="tag bad">2</span>' in curator_client.get(report, HTTP_HX_REQUEST="true").content.decode()
    make_question(ds, 8, chains=0, split="test", clip=ds.questions.get(external_id="2").clip)
    assert '<span class="tag bad">3</span>' in curator_client.get(report, HTTP_HX_REQUEST="true").content.decode()


def test_the_evaluation_refusal_uses_the_same_check(users) -> None:  # type: ignore[no-untyped-def]
    from webapp.training import runs
    from webapp.training.models import DatasetSnapshot, SnapshotQuestion, TrainingRun
    from webapp.training.recipes import LaunchError

    ds = _leaky()
    snapshot = DatasetSnapshot.objects.create(dataset=ds, version=1, status="succeeded", export_dir="x")
    SnapshotQuestion.objects.bulk_create([SnapshotQuestion(snapshot=snapshot, question=q)
                                          for q in ds.questions.filter(split="train")])
    sft = TrainingRun.objects.create(stage="sft", base_model="m", snapshot=snapshot, status="succeeded")
    (row,) = dataset_leaks(ds)
    with pytest.raises(LaunchError, match=rf"shares {row.found.questions} question\(s\) and {row.found.clips} clip"):
        runs.held_out_check({"eval_dataset": ds, "eval_split": "test"}, sft)


def test_the_leak_reports_cache_key_reads_tallies_and_indexes_not_every_row(curator_client: Client) -> None:
    """Counting every question and clip for the key took about a second at 500k questions; the key still changes
    when a clip is processed (its sha256 arrives then)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    ds = _leaky()
    report = f"/datasets/{ds.slug}/leaks/"
    curator_client.get(report, HTTP_HX_REQUEST="true")  # computed and cached
    with CaptureQueriesContext(connection) as ctx:
        assert '<span class="tag bad">2</span>' in curator_client.get(report, HTTP_HX_REQUEST="true").content.decode()
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()
              and ('FROM "catalog_question"' in q["sql"] or 'FROM "catalog_clip"' in q["sql"])]
    assert counts == []
    clean = ds.questions.get(external_id="6").clip  # processed again: it turns out to hold q1's clip's bytes
    Clip.objects.filter(pk=ds.questions.get(external_id="1").clip_id).update(media_sha256="cd" * 32)
    Clip.objects.filter(pk=clean.pk).update(media_sha256="cd" * 32, processed_at=timezone.now())
    assert '<span class="tag bad">3</span>' in curator_client.get(report, HTTP_HX_REQUEST="true").content.decode()


def _fragment(client: Client, ds: Dataset) -> str:
    return client.get(f"/datasets/{ds.slug}/leaks/", HTTP_HX_REQUEST="true").content.decode()


def _checks_leaks(queries: list[dict[str, str]]) -> bool:
    """Whether the split-leakage check itself ran (its shared-clip test compares media sha256s; its key does not)."""
    return any("media_sha256" in q["sql"] for q in queries)


def test_at_size_a_background_job_checks_the_splits_and_the_fragment_asks_until_it_is_done(
        settings, curator_client: Client, run_worker) -> None:
    """At AVQA size the check takes about half a minute (26.7 s at 500k questions): no request waits for it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.LEAK_REPORT_INLINE_QUESTIONS = 5  # this dataset's 6 questions count as large
    ds = _leaky()
    with CaptureQueriesContext(connection) as ctx:
        html = _fragment(curator_client, ds)
    assert not _checks_leaks(ctx.captured_queries)
    assert "a background job is checking the splits" in html and 'hx-trigger="load delay:3s"' in html
    assert '<span class="tag bad">' not in html
    _fragment(curator_client, ds)  # asked again while the job waits: not queued twice
    assert django_rq.get_queue("default").count == 1
    run_worker()
    html = _fragment(curator_client, ds)
    assert '<span class="tag bad">2</span>' in html and "hx-get" not in html and "changed since" not in html


def test_a_changed_dataset_shows_its_last_report_marked_as_such_while_the_job_checks_again(
        settings, curator_client: Client, run_worker) -> None:
    settings.LEAK_REPORT_INLINE_QUESTIONS = 5
    ds = _leaky()
    _fragment(curator_client, ds)
    run_worker()
    make_question(ds, 8, chains=0, split="test", clip=ds.questions.get(external_id="2").clip)
    html = _fragment(curator_client, ds)
    assert '<span class="tag bad">2</span>' in html and "the data has changed since" in html and "hx-get" in html
    run_worker()
    html = _fragment(curator_client, ds)
    assert '<span class="tag bad">3</span>' in html and "changed since" not in html


def test_a_report_one_web_process_computed_is_read_by_the_others(curator_client: Client) -> None:
    """Kept in the database, not in a process's memory: with gunicorn's several workers, each computed its own."""
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ds = _leaky()
    _fragment(curator_client, ds)
    cache.clear()  # what another process has: nothing of this one's memory
    with CaptureQueriesContext(connection) as ctx:
        html = _fragment(curator_client, ds)
    assert '<span class="tag bad">2</span>' in html and not _checks_leaks(ctx.captured_queries)


def test_with_the_queue_down_the_fragment_says_the_check_is_not_queued(settings, curator_client: Client) -> None:
    from tests.webapp.test_queue_unreachable import _point_queues_at
    from webapp.core import embedded_redis

    settings.LEAK_REPORT_INLINE_QUESTIONS = 5
    _point_queues_at(settings, f"redis://127.0.0.1:{embedded_redis.free_port()}/0")
    ds = _leaky()
    response = curator_client.get(f"/datasets/{ds.slug}/leaks/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "Redis" in html and "not queued" in html and "hx-get" not in html


@pytest.mark.postgres  # the setting exists on PostgreSQL only; the SQLite tier deselects this
def test_the_leak_check_gives_postgresql_room_to_hash_its_clip_subqueries() -> None:
    """Within the default 4 MB work_mem PostgreSQL re-scanned the trained clips for every evaluated question (past
    the 60 s timeout at 500k questions): the check's queries run after `SET LOCAL work_mem`, in its transaction."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ds = _leaky()
    with CaptureQueriesContext(connection) as ctx:
        (row,) = dataset_leaks(ds)
    sql = [q["sql"] for q in ctx.captured_queries]
    first_read = next(i for i, s in enumerate(sql) if "catalog_clip" in s)
    assert any("SET LOCAL work_mem" in s for s in sql[:first_read])
    assert (row.found.questions, row.found.clips, row.found.texts) == (0, 2, 1)
