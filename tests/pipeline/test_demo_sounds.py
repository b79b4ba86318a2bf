"""The demo sounds: written once, every recording with its attribution, every chain about a demo question."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.demo_sounds import AUDIO_DIR, CHAINS_NAME, CLIPS, FLAG_CHAINS_NAME, QUESTIONS_NAME, build_demo_sounds


def test_it_writes_clips_questions_and_chains_and_rewrites_nothing_the_second_time(tmp_path: Path) -> None:
    out = build_demo_sounds(tmp_path)
    files = sorted((out / AUDIO_DIR).iterdir())
    recordings = [f for f in files if f.suffix == ".ogg"]
    assert recordings and all(f.with_suffix(".txt").is_file() for f in recordings)  # attribution travels along
    questions = json.loads((out / QUESTIONS_NAME).read_text())
    assert {q["audio_id"] for q in questions} == {c.file for c in CLIPS}
    assert all(q["answer"] in q["choices"] for q in questions)
    assert len({q["choices"].index(q["answer"]) for q in questions}) > 1  # the right answer is not always first
    chains = [json.loads(line) for name in (CHAINS_NAME, FLAG_CHAINS_NAME)
              for line in (out / name).read_text().splitlines()]
    assert {c["question"] for c in chains} == {q["id"] for q in questions}
    before = {f: f.stat().st_mtime_ns for f in out.rglob("*") if f.is_file()}
    build_demo_sounds(tmp_path)
    assert {f: f.stat().st_mtime_ns for f in out.rglob("*") if f.is_file()} == before
