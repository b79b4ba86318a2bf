"""Every value an import accepts is one the database can store; what it cannot store is one row's error.

Run on SQLite by default and on PostgreSQL with DATABASE_URL=postgres://… (PostgreSQL is the database that
enforces `max_length`: there an over-long value aborted the import half-way).
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from pipeline.datasets import QuestionRecord
from tests.webapp.conftest import ANNOTATIONS
from webapp.catalog.models import Clip, ImportRun, Question

pytestmark = pytest.mark.django_db


def mmau_row(n: int, **overrides: object) -> dict[str, object]:
    row = {"id": f"q{n}", "audio_id": f"./audio/q{n}.wav", "question": "Which animal is heard?",
           "choices": ["dog", "cat"], "answer": "cat", "category": "Reasoning",
           "sub-category": "Acoustic Source Inference", "difficulty": "easy"}
    row.update(overrides)
    return row


def _import_mmau(path: Path, media: Path) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_mmau", str(path), audio=str(media), allow_missing_media=True, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("sub-category", "s" * 129, "field 'sub-category' is too long: 129 characters, at most 128"),
    ("difficulty", "d" * 33, "field 'difficulty' is too long: 33 characters, at most 32"),
    ("id", "i" * 65, "field 'id' is too long: 65 characters, at most 64"),
    ("audio_id", "./audio/" + "a" * 252 + ".wav", "field 'audio_id' is too long: 256 characters, at most 255"),
    ("question", "x" * 10_001, "field 'question' is too long: 10001 characters, at most 10000"),
])
def test_an_over_long_field_is_a_row_error_and_the_rows_after_it_still_import(
        tmp_path: Path, field: str, value: str, reason: str) -> None:
    rows = [mmau_row(1), mmau_row(2, **{field: value}), mmau_row(3)]
    path = tmp_path / "long.json"
    path.write_text(json.dumps(rows))
    out, err = _import_mmau(path, tmp_path)
    run = ImportRun.objects.get()
    assert run.status == "succeeded", run.error
    assert [(e["row"], e["reason"]) for e in run.errors] == [(2, reason)]
    assert "row 2" in err and reason in err
    assert sorted(Question.objects.values_list("external_id", flat=True)) == ["q1", "q3"]


def test_an_over_long_avqa_field_is_reported_and_its_media_is_not_copied(
        tmp_path: Path, real_videos: Path, media_root: Path) -> None:
    rows = _rows_with_distinct_clips(3)
    rows[1]["question_type"] = "t" * 65
    run = _import_avqa_rows(rows, tmp_path, real_videos)
    assert [(e["row"], e["reason"]) for e in run.errors] == [
        (2, "field 'question_type' is too long: 65 characters, at most 64")]
    assert Question.objects.count() == 2
    assert _stored_media(media_root) == {f"{c.name}.mp4" for c in Clip.objects.all()}  # nothing for row 2


def test_a_media_path_too_long_for_the_filesystem_is_media_not_found(tmp_path: Path) -> None:
    """A path component over the file system's limit (255 bytes) made the media lookup raise: now it is not there."""
    path = tmp_path / "deep.json"
    path.write_text(json.dumps([mmau_row(1, audio_id="./" + "d" * 300 + "/q1.wav")]))
    out, err = _import_mmau(path, tmp_path)
    assert "1 created" in out and "0 errors" in out, out + err
    assert Clip.objects.get().status == "missing"


def _import_avqa_rows(rows: list[dict], tmp_path: Path, videos: Path) -> ImportRun:
    path = tmp_path / "avqa.json"
    path.write_text(json.dumps(rows))
    call_command("import_avqa", str(path), videos=str(videos), stdout=io.StringIO(), stderr=io.StringIO())
    return ImportRun.objects.get()


def _rows_with_distinct_clips(n: int) -> list[dict]:
    rows, seen = [], set()
    for row in json.loads((ANNOTATIONS / "avqa_real.json").read_text()):
        if row["video_name"] not in seen:
            seen.add(row["video_name"])
            rows.append(row)
    return rows[:n]


def _stored_media(media_root: Path) -> set[str]:
    return {p.name for p in (media_root / "media").rglob("*") if p.is_file()}


def test_the_parsers_length_limits_match_the_model_fields() -> None:
    """The parsers must not import Django, so they declare the limits; this keeps the two from drifting apart."""
    from pipeline.datasets import limits

    model_field = {
        "external_id": Question._meta.get_field("external_id"), "media_name": Clip._meta.get_field("name"),
        "media_kind": Clip._meta.get_field("kind"),
        "source_media_id": Clip._meta.get_field("source_media_id"), "text": Question._meta.get_field("text"),
        "answer_text": Question._meta.get_field("answer_text"), "choices": Question._meta.get_field("choices"),
        "extra": Question._meta.get_field("extra"),
        **{name: Question._meta.get_field(name)
           for name in ("question_type", "question_relation", "category", "sub_category", "difficulty")},
    }
    string_fields = {f.name for f in dataclasses.fields(QuestionRecord) if f.name not in {"row", "answer_index"}}
    assert set(limits.FIELD_LIMITS) == string_fields == set(model_field)
    for name, field in model_field.items():
        if field.max_length is not None:
            assert limits.FIELD_LIMITS[name] == field.max_length, name
        else:  # TextField / JSONField: the database stores any length, the parser's limit is policy
            assert field.get_internal_type() in {"TextField", "JSONField"}, name
            assert limits.FIELD_LIMITS[name] == limits.TEXT_LIMIT, name


@pytest.mark.postgres
def test_a_row_the_database_refuses_is_reported_and_leaves_no_media_behind(
        tmp_path: Path, real_videos: Path, media_root: Path, monkeypatch) -> None:
    """The per-row safety net: should a limit ever drift from the model again, PostgreSQL's refusal is one row's
    error (earlier and later rows land) and the media copied for that row is removed."""
    assert connection.vendor == "postgresql", "run with DATABASE_URL=postgres://… (SQLite stores any length)"
    from pipeline.datasets import limits

    monkeypatch.setitem(limits.FIELD_LIMITS, "question_type", limits.TEXT_LIMIT)  # the drift this test simulates
    rows = _rows_with_distinct_clips(4)
    rows[1]["question_type"] = "t" * 65
    run = _import_avqa_rows(rows, tmp_path, real_videos)
    assert run.status == "succeeded"
    assert [e["row"] for e in run.errors] == [2] and "could not be stored" in run.errors[0]["reason"]
    assert sorted(Question.objects.values_list("external_id", flat=True)) == sorted(
        str(r["id"]) for i, r in enumerate(rows) if i != 1)
    assert _stored_media(media_root) == {f"{c.name}.mp4" for c in Clip.objects.all()}
