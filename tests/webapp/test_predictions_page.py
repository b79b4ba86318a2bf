"""The predictions page of an evaluation reads only the lines it shows (after one indexing pass per version of the
file), filters right and wrong answers, and follows the file when a resumed evaluation rewrites it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from django.test import Client

from webapp.training.models import TrainingRun

pytestmark = pytest.mark.django_db

REL = "runs/eval/predictions.jsonl"


def _row(i: int) -> dict[str, object]:
    return {"id": f"item-{i:04d}", "answer": "B", "completion": f"<think>heard {i}</think><answer>B</answer>",
            "correct": i % 3 == 0, "question_type": "Which", "category": "vehicle"}


def _write(media_root: Path, n: int) -> Path:
    path = media_root / REL
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(_row(i)) + "\n" for i in range(n)))
    return path


@pytest.fixture
def evaluation(users) -> TrainingRun:  # type: ignore[no-untyped-def]
    return TrainingRun.objects.create(stage="eval", base_model="tiny", status="succeeded",
                                      results={"predictions": REL})


def _items(client: Client, run: TrainingRun, query: str) -> list[str]:
    page = client.get(f"/training/{run.pk}/predictions/?{query}")
    assert page.status_code == 200
    return [row["id"] for row in page.context["page"]]


def test_a_page_view_reads_only_the_lines_it_shows(curator_client: Client, evaluation: TrainingRun,
                                                   media_root: Path) -> None:
    path = _write(media_root, 160)
    first = _items(curator_client, evaluation, "show=all")
    assert first == [f"item-{i:04d}" for i in range(50)]
    # Spoil a line of page 3 in place, keeping the file's size and mtime: a view that parsed the whole file fails.
    stat = path.stat()
    lines = path.read_bytes().splitlines(keepends=True)
    lines[120] = b"#" * (len(lines[120]) - 1) + b"\n"
    path.write_bytes(b"".join(lines))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert _items(curator_client, evaluation, "show=all") == first
    assert _items(curator_client, evaluation, "show=all&page=2")[0] == "item-0050"


def test_it_filters_right_and_wrong_answers_page_by_page(curator_client: Client, evaluation: TrainingRun,
                                                        media_root: Path) -> None:
    _write(media_root, 160)
    right = _items(curator_client, evaluation, "show=right&page=2")
    assert right == [f"item-{i:04d}" for i in range(150, 160, 3)]  # 54 right answers: 4 on page 2
    wrong = curator_client.get(f"/training/{evaluation.pk}/predictions/?show=wrong").context["page"]
    assert wrong.paginator.count == 106 and all(not row["correct"] for row in wrong)
    assert curator_client.get(f"/training/{evaluation.pk}/predictions/?show=maybe").status_code == 400


def test_it_follows_the_file_when_a_resumed_evaluation_rewrites_it(curator_client: Client, evaluation: TrainingRun,
                                                                   media_root: Path) -> None:
    path = _write(media_root, 10)
    assert len(_items(curator_client, evaluation, "show=all")) == 10
    with path.open("a") as fh:
        fh.write("\n" + json.dumps(_row(10)) + "\n" + '{"id": "item-0011", "answ')  # a blank and a cut-off line
    page = curator_client.get(f"/training/{evaluation.pk}/predictions/?show=all")
    assert [row["id"] for row in page.context["page"]][-1] == "item-0010"
    assert "1 unreadable line" in page.content.decode()
