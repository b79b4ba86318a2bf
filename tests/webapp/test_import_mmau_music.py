"""MMAU and MUSIC-AVQA: media shipped apart from annotations; missing media imported, attached later."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from tests.real_fixtures import REAL as SHARED
from webapp.catalog.models import Clip, Dataset, ImportRun, Question

pytestmark = pytest.mark.django_db

MMAU = SHARED / "mmau" / "mmau-test-mini.json"
MUSIC_VAL = SHARED / "music_avqa" / "avqa-val.json"


def test_it_imports_all_of_mmau_with_missing_media(tmp_path: Path) -> None:
    out = io.StringIO()
    call_command("import_mmau", str(MMAU), audio=str(tmp_path), allow_missing_media=True, stdout=out,
                 stderr=io.StringIO())
    assert "1000 created" in out.getvalue() and "0 errors" in out.getvalue()
    assert Question.objects.count() == 1000
    assert set(Clip.objects.values_list("status", flat=True)) == {"missing"}
    assert set(Question.objects.values_list("question_type", flat=True)) == {"sound", "music", "speech"}
    q = Question.objects.first()
    assert q.choices[q.answer_index] == q.answer_text and q.split == "test"
    run = ImportRun.objects.get()
    assert len(run.warnings) == 27 and all("choice" in w["reason"] for w in run.warnings)  # repeated choice texts
    assert run.source_version["release"] == "test-mini v05.15.25"  # the revised release, not the original


def test_it_refuses_missing_mmau_media_unless_allowed(tmp_path: Path) -> None:
    rows = json.loads(MMAU.read_text())[:3]
    (tmp_path / "three.json").write_text(json.dumps(rows))
    with pytest.raises(CommandError) as caught:
        call_command("import_mmau", str(tmp_path / "three.json"), audio=str(tmp_path), stdout=io.StringIO())
    message = str(caught.value)
    assert message.count("media file not found") == 3 and "none of its 3 rows would import" in message
    assert not Dataset.objects.exists()  # a file that imports nothing leaves no empty dataset


def test_it_attaches_media_that_arrives_later(tmp_path: Path, media_root: Path) -> None:
    rows = json.loads(MMAU.read_text())[:2]
    (tmp_path / "two.json").write_text(json.dumps(rows))
    audio = tmp_path / "audio"
    audio.mkdir()
    call_command("import_mmau", str(tmp_path / "two.json"), audio=str(audio), allow_missing_media=True,
                 stdout=io.StringIO())
    assert Clip.objects.filter(status="missing").count() == 2
    # The MMAU audio arrives (a CC-licensed recording, decoded to a real WAV, stands in for the hosted wav: a file
    # whose container is not what its name says is refused).
    from pipeline.media import decode_audio
    from pipeline.synth import write_wav

    first = Path(rows[0]["audio_id"]).name
    samples, rate = decode_audio(SHARED / "librosa_data" / "sorohanro_-_solo-trumpet-06.ogg")
    write_wav(audio / first, samples, rate)
    call_command("import_mmau", str(tmp_path / "two.json"), audio=str(audio), allow_missing_media=True,
                 stdout=io.StringIO())
    run = ImportRun.objects.latest("created_at")
    assert run.attached_count == 1 and run.unchanged_count == 1 and run.created_count == 0
    attached = Clip.objects.get(status="pending")
    assert attached.kind == "audio" and (media_root / attached.media_path).exists()


def test_it_imports_music_avqa_open_questions(tmp_path: Path) -> None:
    out = io.StringIO()
    call_command("import_music_avqa", str(MUSIC_VAL), videos=str(tmp_path), allow_missing_media=True,
                 stdout=out, stderr=io.StringIO())
    assert "4568 created" in out.getvalue()
    q = Question.objects.filter(text__contains="instrument").first()
    assert q.choices == [] and q.answer_index is None and q.answer_text
    assert "<" not in "".join(Question.objects.values_list("text", flat=True)[:500])
    assert Question.objects.filter(split="val").count() == 4568


def test_it_rejects_a_music_file_given_to_the_avqa_importer(tmp_path: Path) -> None:
    rows = json.loads(MUSIC_VAL.read_text())[:2]
    (tmp_path / "m.json").write_text(json.dumps(rows))
    with pytest.raises(CommandError) as caught:
        call_command("import_avqa", str(tmp_path / "m.json"), videos=str(tmp_path), stdout=io.StringIO())
    assert str(caught.value).count("missing required fields") == 2 and "unknown fields" in str(caught.value)
    assert not Dataset.objects.exists()


def test_it_rejects_media_whose_type_or_container_is_not_an_accepted_one(tmp_path: Path) -> None:
    from pipeline.synth import render_tones, write_wav

    rows = json.loads(MMAU.read_text())[:3]
    audio = tmp_path / "audio"
    write_wav(audio / "tone.wav", render_tones([(0.1, 0.5, 440.0)], duration=0.6), 16000)
    (audio / "evil.html").write_bytes((audio / "tone.wav").read_bytes())  # a real WAV, named html
    (audio / "fake.wav").write_bytes((audio / "tone.wav").read_bytes().replace(b"WAVE", b"AVI "))
    for row, name in zip(rows, ("evil.html", "fake.wav", "tone.wav"), strict=True):
        row["audio_id"] = f"./test-mini-audios/{name}"
    (tmp_path / "three.json").write_text(json.dumps(rows))
    err = io.StringIO()
    call_command("import_mmau", str(tmp_path / "three.json"), audio=str(audio), stdout=io.StringIO(), stderr=err)
    run = ImportRun.objects.get()
    reasons = sorted(e["reason"] for e in run.errors)
    assert run.created_count == 1 and len(reasons) == 2, reasons
    assert ".html is not an accepted media type" in reasons[0] or ".html is not an accepted media type" in reasons[1]
    assert not any(p.suffix == ".html" for p in Path(settings.MEDIA_ROOT).rglob("*"))
