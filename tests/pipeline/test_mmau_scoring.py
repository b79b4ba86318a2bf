"""MMAU scoring: our `model_output` plus the official string rule, on real test-mini rows and real-looking outputs.

Each expected verdict below was checked by running MMAU's own `evaluation.py` on the same rows (see the note of
the change that added this file); the table covers letters, choice text, sentences, outputs naming two choices,
note-name and digit choices, and no answer.
"""

from __future__ import annotations

import doctest
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.datasets import mmau_scoring
from pipeline.datasets.mmau_scoring import annotation_version, model_output, official_match, score_rows
from tests.real_fixtures import REAL

ROOT = Path(__file__).resolve().parents[2]
MMAU = REAL / "mmau" / "mmau-test-mini.json"

VOICE = "3fe64f3d-282c-4bc8-a753-68f8f6c35652"  # Man / Woman / Child / Robot -> Man
ROOT_CHORD = "b11438e7-7867-429e-9a45-b35c2642a75c"  # G / A# / D / E -> D (option C)
RING_COUNT = "b132f501-53cd-4e78-84e3-ac65c5588260"  # 2 / 4 / 5 / 3 -> 3 (option D)
TEMPO = "660c8ed0-db0f-4d6f-9ccc-f1bad54683a1"  # A / B / C / D -> D
CHORD_AFTER = "bf8202aa-b875-4ace-ad99-bcaa10fd0d65"  # E:7 / A:maj7 / F#:7 / G#:min7b5 -> E:7

# (row id, completion, lettered prompt?, expected model_output, official verdict)
TABLE: list[tuple[str, str, bool, str, bool]] = [
    (VOICE, "<think>A deep adult voice.</think><answer>A</answer>", True, "Man", True),
    (VOICE, "<think>x</think><answer>(B)</answer>", True, "Woman", False),
    (VOICE, "<think>x</think><answer>It is a man speaking.</answer>", True, "Man", True),
    (VOICE, "<think>x</think><answer>a man or a woman</answer>", True, "a man or a woman", False),
    (VOICE, "The voice is low and rough, so the answer is A.", True, "Man", True),
    (VOICE, "I am not sure what this is.", True, "", False),
    (ROOT_CHORD, "<think>x</think><answer>C</answer>", True, "D", True),  # option C is the choice "D"
    (ROOT_CHORD, "<think>x</think><answer>D</answer>", True, "E", False),  # option D is the choice "E"
    (ROOT_CHORD, "<think>x</think><answer>D</answer>", False, "D", True),  # R1-AQA mode: the text "D"
    (RING_COUNT, "<think>x</think><answer>D</answer>", True, "3", True),
    (RING_COUNT, "<think>x</think><answer>3 times</answer>", True, "3", True),
    (RING_COUNT, "<think>x</think><answer>three</answer>", True, "three", False),
    (TEMPO, "<think>x</think><answer>D</answer>", True, "D", True),
    (CHORD_AFTER, "<think>x</think><answer>E:7 or A:maj7</answer>", True, "E:7 or A:maj7", False),
    (CHORD_AFTER, "<think>x</think><answer>A) E:7</answer>", True, "E:7", True),
    (CHORD_AFTER, "<think>x</think><answer>E:7", True, "E:7", True),  # cut before </answer>
]


def _rows() -> dict[str, dict]:
    return {row["id"]: row for row in json.loads(MMAU.read_text())}


@pytest.mark.parametrize(("row_id", "completion", "lettered", "output", "verdict"), TABLE)
def test_it_writes_the_model_output_the_official_rule_scores(
    row_id: str, completion: str, lettered: bool, output: str, verdict: bool
) -> None:
    row = _rows()[row_id]
    assert model_output(completion, row["choices"], lettered=lettered) == output
    assert official_match(row["answer"], output, row["choices"]) is verdict


def test_it_scores_raw_letters_wrongly_which_is_why_it_maps_them_to_choice_text() -> None:
    row = _rows()[VOICE]
    assert official_match(row["answer"], "A", row["choices"]) is False  # "a" is not a token of "Man"


def test_it_reports_task_difficulty_and_sub_category_like_the_official_script(tmp_path: Path) -> None:
    rows = _rows()
    predictions = []
    for row_id, completion, lettered, _, _ in TABLE:
        row = dict(rows[row_id])
        row["model_output"] = model_output(completion, row["choices"], lettered=lettered)
        row["completion"] = completion
        predictions.append(row)
    predictions.append(dict(rows[VOICE]))  # no model_output: skipped, as the official script does
    path = tmp_path / "mmau-predictions.json"
    path.write_text(json.dumps(predictions))
    result = subprocess.run([sys.executable, "-m", "pipeline.evaluate", "score", "--benchmark", "mmau",
                             "--predictions", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    want = sum(v for *_, v in TABLE)
    total = re.search(r"Total Accuracy: ([\d.]+)% over (\d+) samples", result.stdout)
    assert total and int(total[2]) == len(TABLE) and float(total[1]) == round(100 * want / len(TABLE), 2)
    assert "Temporal Reasoning : " in result.stdout and "sound : " in result.stdout and "skipped" in result.stdout
    assert score_rows(predictions).correct == want


def test_it_names_the_annotation_revision() -> None:
    rows = json.loads(MMAU.read_text())
    assert annotation_version(rows)["release"] == "test-mini v05.15.25"
    rows[0] = {**rows[0], "answer": rows[0]["choices"][1]}
    assert annotation_version(rows)["release"] == "unrecognised revision"


def test_it_passes_its_doctests() -> None:
    result = doctest.testmod(mmau_scoring)
    assert result.attempted >= 6 and result.failed == 0
