"""Steps shared by the browser tests."""

from __future__ import annotations

import io
import json
from pathlib import Path

from django.core.management import call_command

from webapp.catalog.models import Question


def login(page, username: str, password: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def import_real_question(tmp_path: Path, real_videos: Path, dataset: str = "browser") -> Question:
    """One AVQA question on the first real clip, imported and processed (peaks, frames) as a curator would find it."""
    name = sorted(real_videos.glob("*.mp4"))[0].stem
    rows = [
        {
            "id": 1,
            "video_name": name,
            "video_id": 1,
            "question_text": "What is making the sound?",
            "multi_choice": ["a dog", "a car", "a bell", "rain"],
            "answer": 1,
            "question_relation": "Both",
            "question_type": "Which",
        }
    ]
    (tmp_path / "one.json").write_text(json.dumps(rows))
    call_command(
        "import_avqa",
        str(tmp_path / "one.json"),
        videos=str(real_videos),
        dataset=dataset,
        process_now=True,
        stdout=io.StringIO(),
    )
    return Question.objects.select_related("clip", "dataset").get()
