"""The shippable demo dataset: AVQA format, idempotent, fast, and its answers really are in the sound."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pipeline.demo import build_demo
from pipeline.media import probe, process_clip, read_audio

AVQA_KEYS = {"id", "video_name", "video_id", "question_text", "multi_choice", "answer", "question_relation",
             "question_type"}
RELATIONS = {"Both", "View", "Sound"}
TYPES = {"Which", "Come From", "Happening", "Where", "Why", "Before Next", "When", "Used For"}


@pytest.fixture(scope="module")
def demo_built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    out = tmp_path_factory.mktemp("demo")
    t0 = time.perf_counter()
    assert build_demo(out, n=9) == out
    return out, time.perf_counter() - t0


def _hz(x: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[int(np.argmax(spectrum))])


def _onsets(peaks: list[float], pps: int, threshold: float = 0.1) -> list[float]:
    on = np.asarray(peaks) > threshold
    return [i / pps for i in np.flatnonzero(on[1:] & ~on[:-1]) + 1] + ([0.0] if on[0] else [])


def _heard_answer(slug: str, audio: np.ndarray, sr: int, peaks: list[float], pps: int) -> str:
    """What a listener would answer, measured from the extracted 16 kHz mono audio alone."""
    head, tail = _hz(audio[: sr // 2], sr), _hz(audio[-sr // 2 :], sr)
    onsets = sorted(_onsets(peaks, pps))
    if slug == "rising_tone":
        return "Rising" if tail > head * 1.5 else "?"
    if slug == "falling_tone":
        return "Falling" if head > tail * 1.5 else "?"
    if slug == "beeps_speed_up":
        gaps = np.diff(onsets)
        return "The beeps get faster" if len(gaps) >= 4 and np.all(np.diff(gaps) < 0) else "?"
    if slug == "low_tone_big_drum":
        return "The large circle, a low tone" if _hz(audio, sr) < 300 else "?"
    if slug == "high_tone_small_bell":
        return "The small circle, a high tone" if _hz(audio, sr) > 1000 else "?"
    if slug == "bursts_left_then_right":
        return {1: "One", 2: "Two", 3: "Three", 4: "Four"}.get(len(onsets), "?")
    if slug == "sound_starts_halfway":
        return "About halfway through" if onsets and 1.3 < onsets[0] < 1.7 else "?"
    if slug == "low_then_high":
        first, second = _hz(audio[int(0.4 * sr) : int(1.1 * sr)], sr), _hz(audio[int(1.9 * sr) : int(2.6 * sr)], sr)
        return "A high tone" if second > 2 * first else "?"
    if slug == "three_beeps":
        return {2: "Two", 3: "Three", 4: "Four", 5: "Five"}.get(len(onsets), "?")
    raise AssertionError(f"no listening check for {slug}")


def test_it_builds_avqa_rows_for_every_clip_quickly(demo_built: tuple[Path, float]) -> None:
    out, seconds = demo_built
    assert seconds < 3.0 * 9 / 8
    rows = json.loads((out / "demo_avqa.json").read_text())
    assert len(rows) == 9 and len({r["id"] for r in rows}) == 9
    for row in rows:
        assert set(row) == AVQA_KEYS
        assert isinstance(row["id"], int) and isinstance(row["video_id"], int)
        assert len(row["multi_choice"]) == 4 and len(set(row["multi_choice"])) == 4
        assert row["answer"] in range(4)
        assert row["question_relation"] in RELATIONS and row["question_type"] in TYPES
        assert (out / "videos" / f"{row['video_name']}.mp4").is_file()
    assert len({r["answer"] for r in rows}) > 1  # the right answer isn't always in the same slot


def test_it_asks_questions_the_sound_answers(demo_built: tuple[Path, float], tmp_path: Path) -> None:
    out, _ = demo_built
    for row in json.loads((out / "demo_avqa.json").read_text()):
        clip = out / "videos" / f"{row['video_name']}.mp4"
        info = probe(clip)
        assert info.has_audio and info.has_video and info.duration == pytest.approx(3.0, abs=0.05)
        art = process_clip(clip, tmp_path / row["video_name"], n_frames=2, peaks_per_second=100)
        audio, sr = read_audio(tmp_path / row["video_name"] / art.audio)
        peaks = json.loads((tmp_path / row["video_name"] / art.peaks).read_text())["data"]
        slug = row["video_name"].split("_", 1)[1]
        assert _heard_answer(slug, audio, sr, peaks, 100) == row["multi_choice"][row["answer"]], slug


def test_it_leaves_unchanged_files_untouched_on_rebuild(demo_built: tuple[Path, float]) -> None:
    out, _ = demo_built
    files = sorted(out.rglob("*"))
    before = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in files if p.is_file()}
    build_demo(out, n=9)
    assert sorted(out.rglob("*")) == files
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in before} == before


def test_it_runs_from_the_command_line(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-m", "pipeline.demo", "--out", str(tmp_path), "--n", "2"],
                   cwd=root, check=True, timeout=60, capture_output=True)
    rows = json.loads((tmp_path / "demo_avqa.json").read_text())
    assert [r["video_name"] for r in rows] == ["demo00_rising_tone", "demo01_falling_tone"]
