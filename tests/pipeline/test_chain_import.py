"""Chains imported from a JSONL file: row-by-row checks, both row shapes, and the teacher's selection."""

from __future__ import annotations

import io
import json

import pytest

from pipeline.chain_import import ChainFileError, QuestionInfo, read_chain_file, select_imported

QUESTIONS = {
    "q1": QuestionInfo(
        key=1, text="What is heard?", choices=("A dog", "Beeps", "Rain"), answer_index=1, answer_text="Beeps"
    ),
    "q2": QuestionInfo(key=2, text="How many?", choices=("One", "Two"), answer_index=0, answer_text="One"),
}


def _file(*lines: object) -> io.BytesIO:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    return io.BytesIO(text.encode("utf-8"))


def _read(*lines: object):  # type: ignore[no-untyped-def]
    return read_chain_file(_file(*lines), QUESTIONS.get)


def test_it_reads_both_row_shapes_and_numbers_short_rows_per_question() -> None:
    parsed = _read(
        {
            "id": "q1",
            "sample_index": 3,
            "text": "<think>x</think><answer>B</answer>",
            "kept": False,
            "drop_reason": "no_answer",
            "prompt_version": "teacher-v1",
        },
        {"id": "c1", "question": "q2", "chain": "<think>one beep</think><answer>A</answer>", "model": "big-lvlm"},
        {"id": "c2", "question": "q2", "chain": "<think>one beep again</think><answer>A</answer>"},
    )
    assert not parsed.errors
    assert [r.sample_index for r in parsed.groups["q2"]] == [0, 1]
    assert parsed.groups["q1"][0].sample_index == 3
    assert parsed.claimed("model") == ["big-lvlm"] and parsed.claimed("prompt_version") == ["teacher-v1"]


def test_it_reports_each_bad_row_with_its_line_and_reason_and_keeps_the_good_ones() -> None:
    parsed = _read(
        {"id": "c1", "question": "q1", "chain": "<think>beeps</think><answer>B</answer>"},
        "{not json",
        {"id": "c2", "question": "nope", "chain": "x"},
        {"id": "c3", "question": "q1"},
        [1, 2],
        {"id": "c1", "question": "q2", "chain": "dup id"},
        {"id": "c4", "question": "q1", "chain": "x", "colour": "red"},
        {"id": "c5", "question": "q1", "chain": "x" * 100_001},
        "",
        {"id": "q1", "sample_index": 0, "text": "same key as line 1"},
    )
    reasons = {e.line: e.reason for e in parsed.errors}
    assert sorted(reasons) == [2, 3, 4, 5, 6, 7, 8, 10]
    assert reasons[2].startswith("not JSON")
    assert "unknown question id 'nope'" in reasons[3]
    assert "missing field(s) chain" in reasons[4]
    assert "expected a JSON object, got list" in reasons[5]
    assert "duplicate chain id: line 1" in reasons[6]
    assert "unknown field(s) 'colour'" in reasons[7]
    assert "too long" in reasons[8]
    assert "duplicate of line 1" in reasons[10]
    assert parsed.n_chains == 1 and parsed.n_rows == 9
    assert {e.id for e in parsed.errors if e.line == 3} == {"c2"}


def test_it_refuses_an_empty_file_or_one_over_the_row_limit() -> None:
    with pytest.raises(ChainFileError, match="no chains"):
        read_chain_file(io.BytesIO(b"\n\n"), QUESTIONS.get)
    with pytest.raises(ChainFileError, match="more than 2"):
        read_chain_file(
            _file(*[{"id": f"c{i}", "question": "q1", "chain": "x"} for i in range(3)]), QUESTIONS.get, max_rows=2
        )


def test_it_reports_a_line_that_is_not_utf8() -> None:
    parsed = read_chain_file(io.BytesIO(b'{"id": "c1", "question": "q1", "chain": "\xff"}\n'), QUESTIONS.get)
    assert parsed.errors[0].line == 1 and "not UTF-8" in parsed.errors[0].reason


def test_it_selects_like_the_teacher_recomputing_what_the_file_claims() -> None:
    parsed = _read(
        {"id": "q1", "sample_index": 0, "text": "<think>I hear beeps.</think><answer>B</answer>"},
        {
            "id": "q1",
            "sample_index": 1,
            "text": "<think>A dog barks.</think><answer>A</answer>",
            "is_correct": True,
            "kept": True,
        },
        {"id": "q1", "sample_index": 2, "text": "I am not sure", "kept": True},
        {"id": "q1", "sample_index": 3, "text": "<think>I hear beeps.</think><answer>B</answer>"},
        {
            "id": "q1",
            "sample_index": 5,
            "text": "<think>Short electronic beeps, evenly spaced.</think><answer>Beeps</answer>",
        },
    )
    result = select_imported(QUESTIONS["q1"], parsed.groups["q1"])
    by_index = {c.sample_index: c for c in result.chains}
    assert (by_index[0].kept, by_index[0].is_correct, by_index[0].parsed_answer) == (True, True, 1)
    assert (by_index[1].kept, by_index[1].drop_reason, by_index[1].is_correct) == (False, "wrong_answer", False)
    assert by_index[2].drop_reason == "no_answer"
    assert by_index[3].drop_reason == "duplicate"
    assert by_index[5].kept and by_index[5].parsed_answer == 1
    assert result.n_samples == 5 and result.n_correct == 3
