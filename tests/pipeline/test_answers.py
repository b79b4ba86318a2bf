"""Answer extraction over real-looking malformed teacher/student outputs."""

from __future__ import annotations

import doctest

import pytest

from pipeline import answers
from pipeline.answers import extract_answer, extract_open_answer, format_ok

CH = ("cat", "dog", "cow", "church bell")

CASES: list[tuple[str, int | None]] = [
    ("<think>It barks.</think><answer>B</answer>", 1),
    ("<think>It barks.</think><answer>(B)</answer>", 1),
    ("<think>It barks.</think><answer>B. dog</answer>", 1),
    ("<think>It barks.</think><answer>B) dog</answer>", 1),
    ("<think>It barks.</think><answer>dog</answer>", 1),
    ("<think>It barks.</think><answer> Dog. </answer>", 1),
    ("<think>x</think><answer>  b  </answer>", 1),
    ("<think>x</think><answer>**B**</answer>", 1),
    ("<think>x</think><answer>Option C</answer>", 2),
    ("<think>x</think><answer>option (c)</answer>", 2),
    ("<think>x</think>\n<answer>\nD\n</answer>\n", 3),
    ("<think>x</think><answer>Church-Bell!</answer>", 3),
    ("<think>x</think><answer>the church bell ringing</answer>", 3),
    ("<think>A, C and D are silent animals; B barks.</think><answer>B</answer>", 1),
    ("<think>Maybe A? The answer is C... no.</think><answer>B</answer>", 1),
    ("<think>x</think><answer>A</answer><answer>C</answer>", 2),
    ("<think>it moos</think><answer>C", 2),  # truncated, no closing tag
    ("<think>it moos</think><answer>C</", 2),
    ("The sound is a bark. Answer: B", 1),
    ("I hear mooing, so the answer is (C).", 2),
    ("Final answer: D", 3),
    ("<think>x</think><answer>E</answer>", None),  # beyond 4 choices
    ("<think>x</think><answer>Z. giraffe</answer>", None),
    ("<think>It could be A or B, the answer is B", None),  # cut off while still reasoning
    ("<think>x</think><answer></answer>", None),
    ("<think>x</think><answer>a horse</answer>", None),  # article, not option A
    ("", None),
    ("I don't know.", None),
    ("<think>x</think><answer>A dog</answer>", 1),  # "A" here is the article: the choice text wins
    ("<think>x</think><answer>[A]</answer>", 0),
    ("<think>x</think> <ANSWER>a</ANSWER>", 0),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_it_extracts_the_final_answer_from_malformed_outputs(text: str, expected: int | None) -> None:
    assert extract_answer(text, CH) == expected


def test_it_has_at_least_25_table_cases() -> None:
    assert len(CASES) >= 25


NOTES = ("C", "D", "E", "F")  # MMAU-style choices whose text is itself a letter

# (answer text, choices, lettered prompt?, expected index): rule 4 of pipeline.answers.
CHOICE_RULES: list[tuple[str, tuple[str, ...], bool, int | None]] = [
    ("<answer>C</answer>", NOTES, True, 2),  # lettered prompt: C is the third option ("E"), not the text "C"
    ("<answer>(A)</answer>", NOTES, True, 0),
    ("<answer>D</answer>", NOTES, True, 3),
    ("<answer>E</answer>", NOTES, True, None),  # a letter beyond four choices
    ("<answer>C</answer>", NOTES, False, 0),  # R1-AQA mode: the answer is the choice text
    ("<answer>E</answer>", NOTES, False, 2),
    ("<answer>A</answer>", ("B", "A"), True, 0),
    ("<answer>A</answer>", ("B", "A"), False, 1),
    ("<answer>B</answer>", ("cat", "dog"), False, None),  # no letters were offered, so a letter names nothing
    ("<answer>dog</answer>", ("cat", "dog"), False, 1),
    ("<answer>a dog barking</answer>", ("cat", "dog"), False, 1),
    ("<answer>B flat</answer>", ("A major", "B flat"), True, 1),
    ("<answer>A major</answer>", ("A major", "B flat"), True, 0),  # "A" + a word: the choice text wins
    ("<answer>B flat</answer>", ("A major", "B flat"), False, 1),
]


@pytest.mark.parametrize(("text", "choices", "lettered", "expected"), CHOICE_RULES)
def test_it_reads_letters_first_only_when_the_prompt_lettered_the_choices(
    text: str, choices: tuple[str, ...], lettered: bool, expected: int | None
) -> None:
    assert extract_answer(text, choices, lettered=lettered) == expected


# (predicted, gold, match?): rule 5 — number words and digits, articles, plurals, units.
OPEN_RULES: list[tuple[str, str, bool]] = [
    ("2", "two", True),
    ("two instruments", "two", True),
    ("There are 2 instruments playing", "two", True),
    ("Three", "3", True),
    ("twice", "two", True),
    ("10 seconds", "ten", True),
    ("2 or 3", "two", False),
    ("three", "two", False),
    ("twelve", "two", False),
    ("the cello", "cello", True),
    ("Cellos", "cello", True),
    ("an accordion", "accordion", True),
    ("the left", "left", True),
    ("yes", "no", False),
    ("no", "No.", True),
    ("violin and piano", "piano", False),
    ("guitars", "guitar", True),
    ("", "two", False),
]


@pytest.mark.parametrize(("predicted", "gold", "match"), OPEN_RULES)
def test_it_matches_open_answers_by_number_article_and_plural_rules(predicted: str, gold: str, match: bool) -> None:
    assert answers.open_answer_matches(predicted, gold) is match


def test_it_extracts_open_answers() -> None:
    assert extract_open_answer("<think>x</think><answer> Church bell. </answer>") == "Church bell"
    assert extract_open_answer("<think>x</think><answer>two</answer><answer>three") == "three"
    assert extract_open_answer("Answer: a siren") == "a siren"
    assert extract_open_answer("<think>still thinking") is None
    assert extract_open_answer("<answer>  </answer>") is None


@pytest.mark.parametrize(("text", "ok"), [
    ("<think>It barks.</think><answer>B</answer>", True),
    ("  <think>a\nb</think>\n\n<answer>dog</answer>\n", True),
    ("<answer>B</answer>", False),
    ("<think>x</think>", False),
    ("<think></think><answer>B</answer>", False),
    ("<think>x</think><answer>B</answer> extra", False),
    ("<think>x</think><answer>A</answer><answer>B</answer>", False),
    ("<think>x<think>y</think><answer>B</answer>", False),
    ("<think>x</think><answer>B", False),
])
def test_it_checks_the_full_think_answer_format(text: str, ok: bool) -> None:
    assert format_ok(text) is ok


def test_it_passes_its_doctests() -> None:
    result = doctest.testmod(answers)
    assert result.attempted >= 4 and result.failed == 0
