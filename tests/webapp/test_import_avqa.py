"""import_avqa on the real AVQA/VGGSound clips and on deliberately broken inputs."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from pipeline.synth import write_av_clip
from tests.webapp.conftest import ANNOTATIONS
from webapp.catalog.models import Clip, Dataset, ImportRun, Question

pytestmark = pytest.mark.django_db


def _import(path: Path, videos: Path, **kwargs) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_avqa", str(path), videos=str(videos), stdout=out, stderr=err, **kwargs)
    return out.getvalue(), err.getvalue()


def _snapshot() -> list[tuple]:
    return list(Question.objects.order_by("external_id").values_list(
        "external_id", "text", "choices", "answer_index", "clip__name", "content_hash", "split"))


def test_it_imports_the_real_clips_and_a_second_import_changes_nothing(real_videos: Path) -> None:
    annotations = ANNOTATIONS / "avqa_real.json"
    rows = json.loads(annotations.read_text())
    out, err = _import(annotations, real_videos, dataset="AVQA sample")
    assert f"{len(rows)} created" in out and "0 errors" in out, out + err
    first = _snapshot()
    assert len(first) == len(rows)
    assert Clip.objects.count() == len({r["video_name"] for r in rows})
    assert set(Clip.objects.values_list("status", flat=True)) == {"pending"}

    out, err = _import(annotations, real_videos, dataset="AVQA sample")
    assert "0 created" in out and f"{len(rows)} unchanged" in out, out + err
    assert _snapshot() == first
    assert Clip.objects.count() == len({r["video_name"] for r in rows})
    assert ImportRun.objects.filter(status="succeeded").count() == 2


def test_it_stores_media_relative_to_the_storage_root(real_videos: Path, media_root: Path) -> None:
    _import(ANNOTATIONS / "avqa_real.json", real_videos, dataset="AVQA sample")
    clip = Clip.objects.first()
    assert not Path(clip.media_path).is_absolute()
    assert (media_root / clip.media_path).read_bytes() == (real_videos / f"{clip.name}.mp4").read_bytes()
    assert clip.duration and clip.duration > 5 and clip.audio_codec == "aac"


def test_it_reports_each_bad_row_and_imports_the_good_ones(real_videos: Path) -> None:
    out, err = _import(ANNOTATIONS / "avqa_bad_rows.json", real_videos, dataset="bad rows")
    run = ImportRun.objects.get()
    reasons = " | ".join(e["reason"] for e in run.errors)
    assert run.created_count >= 1 and run.error_count == len(run.errors) >= 6
    for expected in ("out of range", "expected 4 choices", "missing", "unknown", "conflicts with row"):
        assert expected in reasons, f"{expected!r} not in {reasons}"
    assert all(e["row"] for e in run.errors), run.errors
    for e in run.errors:
        assert f"row {e['row']}" in err
    assert Question.objects.count() == run.created_count


def test_it_rejects_malformed_json_with_its_position(real_videos: Path) -> None:
    with pytest.raises(CommandError, match=r"line \d+"):
        _import(ANNOTATIONS / "avqa_malformed.json", real_videos, dataset="malformed")
    assert not Dataset.objects.exists() and not ImportRun.objects.exists()  # refused before anything is made


def test_it_rejects_a_file_that_is_not_a_list(real_videos: Path) -> None:
    with pytest.raises(CommandError, match="list"):
        _import(ANNOTATIONS / "avqa_not_a_list.json", real_videos, dataset="object")


def _one_row(video_name: str, id_: int = 1) -> list[dict]:
    return [{"id": id_, "video_name": video_name, "video_id": 7, "question_text": "What makes the sound?",
             "multi_choice": ["a dog", "a car", "a bell", "rain"], "answer": 2,
             "question_relation": "Both", "question_type": "Which"}]


def test_it_flags_truncated_video_and_video_without_audio(tmp_path: Path, real_videos: Path) -> None:
    source = next(iter(sorted(real_videos.glob("*.mp4"))))
    data = source.read_bytes()
    (real_videos / "truncated.mp4").write_bytes(data[: len(data) * 3 // 10])
    write_av_clip(real_videos / "silent.mp4", duration=1.0, audio=False)
    (real_videos / "garbage.mp4").write_bytes(b"this is not a video" * 100)
    rows = _one_row("truncated", 1) + _one_row("silent", 2) + _one_row("garbage", 3) + _one_row("absent", 4)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(rows))
    _import(path, real_videos, dataset="broken media")
    run = ImportRun.objects.get()
    by_id = {e["id"]: e["reason"] for e in run.errors}
    assert set(by_id) == {"1", "2", "3", "4"}
    assert "no audio track" in by_id["2"]
    assert "not found" in by_id["4"] and "absent.mp4" in by_id["4"]
    for key in ("1", "3"):
        assert "undecodable" in by_id[key] or "truncated" in by_id[key] or "invalid" in by_id[key], by_id[key]
    assert Question.objects.count() == 0 and Clip.objects.count() == 0


def test_it_reports_a_changed_row_as_a_conflict_and_keeps_the_original(tmp_path: Path, real_videos: Path) -> None:
    name = sorted(real_videos.glob("*.mp4"))[0].stem
    path = tmp_path / "a.json"
    path.write_text(json.dumps(_one_row(name)))
    _import(path, real_videos, dataset="conflicts")
    changed = _one_row(name)
    changed[0]["answer"] = 0
    path.write_text(json.dumps(changed))
    out, err = _import(path, real_videos, dataset="conflicts")
    assert "conflicts with the question already imported" in err
    assert Question.objects.get().answer_index == 2


def test_it_refuses_a_dataset_of_another_format(tmp_path: Path, real_videos: Path) -> None:
    Dataset.objects.create(name="mixed", slug="mixed", source_format="mmau")
    path = tmp_path / "a.json"
    path.write_text(json.dumps(_one_row("x")))
    with pytest.raises(CommandError, match="MMAU"):
        _import(path, real_videos, dataset="mixed")


@pytest.mark.django_db(transaction=True)
def test_it_processes_imported_clips_on_the_rq_worker(tmp_path: Path, real_videos: Path, media_root: Path,
                                                     run_worker) -> None:
    names = sorted(p.stem for p in real_videos.glob("*.mp4"))[:2]
    for p in real_videos.glob("*.mp4"):
        if p.stem not in names:
            p.unlink()
    path = tmp_path / "two.json"
    path.write_text(json.dumps(_one_row(names[0], 1) + _one_row(names[1], 2)))
    out, _ = _import(path, real_videos, dataset="processed")
    assert "2 clips queued" in out
    run_worker("default")
    for clip in Clip.objects.all():
        assert clip.status == "ready", clip.error
        assert (media_root / clip.audio_path).stat().st_size > 16000
        peaks = json.loads((media_root / clip.peaks_path).read_text())
        assert peaks["sample_rate"] == 16000 and len(peaks["data"]) > 100
        assert (media_root / clip.thumbnail_path).read_bytes()[:2] == b"\xff\xd8"
        assert len(clip.frame_paths) == 8 and clip.frame_times == sorted(clip.frame_times)


@pytest.mark.django_db(transaction=True)
def test_it_flags_a_clip_that_breaks_during_processing(tmp_path: Path, real_videos: Path, media_root: Path,
                                                       run_worker) -> None:
    name = sorted(real_videos.glob("*.mp4"))[0].stem
    path = tmp_path / "one.json"
    path.write_text(json.dumps(_one_row(name)))
    _import(path, real_videos, dataset="breaks later")
    clip = Clip.objects.get()
    stored = media_root / clip.media_path
    stored.unlink()  # break the link first so the fixture copy stays intact
    data = (real_videos / f"{name}.mp4").read_bytes()
    stored.write_bytes(data[: len(data) * 9 // 10])
    run_worker("default")
    clip.refresh_from_db()
    assert clip.status == "failed" and clip.error


def test_it_processes_inline_with_process_now(tmp_path: Path, real_videos: Path) -> None:
    name = sorted(real_videos.glob("*.mp4"))[0].stem
    path = tmp_path / "one.json"
    path.write_text(json.dumps(_one_row(name)))
    out, _ = _import(path, real_videos, dataset="inline", process_now=True)
    assert "processed clip 1/1: ready" in out
    assert Clip.objects.get().status == "ready"


def test_it_needs_an_existing_annotation_file_and_media_dir(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="annotation file not found"):
        _import(tmp_path / "nope.json", tmp_path)
    (tmp_path / "a.json").write_text("[]")
    with pytest.raises(CommandError, match="media directory not found"):
        _import(tmp_path / "a.json", tmp_path / "nodir")


def test_it_leaves_the_source_folder_untouched(real_videos: Path) -> None:
    before = {p.name: p.stat().st_size for p in real_videos.iterdir()}
    _import(ANNOTATIONS / "avqa_real.json", real_videos, dataset="AVQA sample")
    assert {p.name: p.stat().st_size for p in real_videos.iterdir()} == before
    shutil.rmtree(real_videos)  # stored copies survive the source going away
    assert all(Path(c.media_path) for c in Clip.objects.all())
