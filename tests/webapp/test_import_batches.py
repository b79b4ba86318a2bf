"""Imports write a batch of rows at a time, and a batch the database refuses is written again row by row.

Runs on SQLite by default and on PostgreSQL with DATABASE_URL=postgres://… (no marker: both must hold).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from webapp.catalog.imports import Importer, batch_size, get_or_create_dataset
from webapp.catalog.models import Clip, Dataset, Question

pytestmark = pytest.mark.django_db


def _rows(n: int) -> list[dict[str, object]]:
    return [{"id": i, "video_name": f"clip{i:04d}", "video_id": i, "question_text": f"What sounds in clip {i}?",
             "multi_choice": ["a dog", "a car", "rain", "a violin"], "answer": i % 4, "question_relation": "Both",
             "question_type": "Which"} for i in range(1, n + 1)]


def _file(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / "avqa.json"
    path.write_text(json.dumps(rows))
    return path


def _importer(dataset: Dataset, media: Path | None = None) -> Importer:
    return Importer(dataset, split="train", media_dir=media, allow_missing_media=media is None)


def test_an_import_costs_a_few_queries_per_batch_not_per_row(tmp_path: Path) -> None:
    rows = 1000
    dataset = get_or_create_dataset("batched", "avqa")
    with CaptureQueriesContext(connection) as queries:
        report = _importer(dataset).run(_file(tmp_path, _rows(rows)))
    assert report.created == rows and not report.errors
    batches = -(-rows // batch_size(rows))
    assert len(queries) <= 10 * batches, f"{len(queries)} queries for {batches} batches of {rows} rows"
    assert Question.objects.filter(dataset=dataset).count() == Clip.objects.filter(dataset=dataset).count() == rows


def test_a_row_a_concurrent_import_stored_first_is_reported_and_the_rest_of_its_batch_lands(
        tmp_path: Path, real_videos: Path, media_root: Path) -> None:
    """After the first batch another import stores row 40's question and row 30's clip (without media): the second
    batch's bulk insert fails and is written row by row. Row 40 is an error with its row number and its clip's
    media copy is removed; row 30 lands on the other import's clip and gives it its media; every other row lands
    with its clip queued for processing."""
    videos = sorted(real_videos.glob("*.mp4"))
    media = tmp_path / "links"
    media.mkdir()
    rows = _rows(60)
    for i, row in enumerate(rows):
        (media / f"{row['video_name']}.mp4").symlink_to(videos[i % len(videos)])
    dataset = get_or_create_dataset("raced", "avqa")
    assert batch_size(len(rows)) == 25

    def concurrent_import(done: int, _total: int, _metrics: object) -> None:
        if done == 25:  # the second batch (rows 26-50) is next
            Clip.objects.create(dataset=dataset, name="clip0030", kind="video", status="missing")
            other = Clip.objects.create(dataset=dataset, name="elsewhere", kind="video", status="missing")
            Question.objects.create(dataset=dataset, clip=other, external_id="40", text="?", answer_text="a",
                                    split="train", content_hash="x")

    report = _importer(dataset, media).run(_file(tmp_path, rows), on_progress=concurrent_import)
    assert [(e["row"], e["id"]) for e in report.errors] == [(40, "40")]
    assert str(report.errors[0]["reason"]).startswith("could not be stored: ")
    assert (report.created, report.attached) == (59, 1)
    mine = Question.objects.filter(dataset=dataset).exclude(clip__name="elsewhere")
    assert sorted(int(q) for q in mine.values_list("external_id", flat=True)) == [
        i for i in range(1, 61) if i != 40]
    assert all(q.clip.name == f"clip{int(q.external_id):04d}" for q in mine.select_related("clip"))
    with_media = Clip.objects.filter(dataset=dataset).exclude(media_path="")
    assert with_media.count() == 59 and not with_media.filter(name="clip0040").exists()
    assert sorted(report.clips_to_process) == sorted(with_media.values_list("pk", flat=True))
    assert {p.name for p in (media_root / "media").rglob("*") if p.is_file()} == {
        Path(c.media_path).name for c in with_media}


def test_a_refused_batch_keeps_earlier_batches_and_later_rows_of_a_shared_clip(tmp_path: Path) -> None:
    """Two rows share a clip; the first of them is refused in the row-by-row retry, the second still lands and
    makes the clip."""
    rows = _rows(50)
    rows[35]["video_name"] = rows[30]["video_name"]  # rows 31 and 36 share clip0031
    dataset = get_or_create_dataset("shared clip", "avqa")

    def concurrent_import(done: int, _total: int, _metrics: object) -> None:
        if done == 25:
            other = Clip.objects.create(dataset=dataset, name="elsewhere", kind="video", status="missing")
            Question.objects.create(dataset=dataset, clip=other, external_id="31", text="?", answer_text="a",
                                    split="train", content_hash="x")

    report = _importer(dataset).run(_file(tmp_path, rows), on_progress=concurrent_import)
    assert [e["row"] for e in report.errors] == [31]
    assert report.created == 49
    assert Question.objects.get(dataset=dataset, external_id="36").clip.name == "clip0031"
    assert Clip.objects.filter(dataset=dataset, name="clip0031").count() == 1


def test_a_second_import_of_a_batched_file_changes_nothing(tmp_path: Path) -> None:
    path = _file(tmp_path, _rows(120))
    dataset = get_or_create_dataset("twice", "avqa")
    first = _importer(dataset).run(path)
    snapshot = list(Question.objects.order_by("pk").values_list("external_id", "clip__name", "content_hash"))
    again = _importer(dataset).run(path)
    assert (first.created, again.created, again.unchanged, again.errors) == (120, 0, 120, [])
    assert list(Question.objects.order_by("pk").values_list("external_id", "clip__name", "content_hash")) == snapshot


def test_media_reached_through_a_symlink_is_stored_as_the_file_itself(
        tmp_path: Path, real_videos: Path, media_root: Path) -> None:
    """A media folder of symlinks (the shared real clips under new names) stored links that point outside the
    storage root, which every later read of the clip refuses."""
    media = tmp_path / "links"
    media.mkdir()
    source = sorted(real_videos.glob("*.mp4"))[0]
    (media / "clip0001.mp4").symlink_to(source)
    report = _importer(get_or_create_dataset("linked", "avqa"), media).run(_file(tmp_path, _rows(1)))
    assert report.created == 1 and not report.errors
    stored = media_root / Clip.objects.get().media_path
    assert not stored.is_symlink() and stored.resolve().is_relative_to(media_root.resolve())
    assert stored.read_bytes() == source.read_bytes()
