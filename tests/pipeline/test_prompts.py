"""Versioned prompt templates: rendering, messages, registry."""

from __future__ import annotations

import pytest

from pipeline.prompts import PROMPTS, TEACHER_V1, get_prompt


def test_it_renders_lettered_choices_and_the_answer_format() -> None:
    text = TEACHER_V1.render("What  is making\nthe sound?", ["dog", "cat", "cow"])
    assert "Question: What is making the sound?" in text
    assert "A. dog\nB. cat\nC. cow\n" in text
    assert "(A, B, C)" in text and "<think>...</think><answer>...</answer>" in text
    for word in ("sound sources", "loud", "pitch", "cannot hear"):
        assert word in text


def test_it_asks_for_a_short_phrase_without_choices() -> None:
    text = TEACHER_V1.render("What instrument is playing?")
    assert "Choices" not in text and "short phrase" in text


def test_it_builds_messages_with_a_video_part_before_the_text() -> None:
    messages = TEACHER_V1.messages("Q?", ["a", "b"])
    assert messages[0]["role"] == "user"
    assert messages[0]["content"][0] == {"type": "video"}
    assert messages[0]["content"][1]["type"] == "text" and "Q?" in messages[0]["content"][1]["text"]


def test_it_looks_up_versions_and_rejects_unknown_ones() -> None:
    assert get_prompt("teacher-v1") is TEACHER_V1 and TEACHER_V1.version == "teacher-v1"
    assert all(p.version == v for v, p in PROMPTS.items())
    with pytest.raises(KeyError, match="teacher-v1"):
        get_prompt("teacher-v0")
