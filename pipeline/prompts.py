"""Versioned prompt templates.

A run records the version of the prompt it used (and the web app stores the rendered text next to it), so a
template is never edited in place: a change is a new version in `PROMPTS`. Only the teacher lives here; the LALM
judge's prompt belongs to pipeline/validate/judge.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.answers import letter

__all__ = ["PROMPTS", "PromptTemplate", "get_prompt", "TEACHER_V1"]


@dataclass(frozen=True)
class PromptTemplate:
    """A frozen prompt: `text` is a `str.format` template over question, choices block and answer instruction."""

    version: str
    text: str
    mc_instruction: str  # how to answer when there are lettered choices
    open_instruction: str  # how to answer an open-vocabulary question
    media: str = "video"  # the content part placed before the text

    def render(self, question: str, choices: Sequence[str] = ()) -> str:
        """The user text for one question; lettered choices when there are any, else an open question."""
        question = " ".join(question.split())
        if choices:
            block = "Choices:\n" + "\n".join(f"{letter(i)}. {c}" for i, c in enumerate(choices)) + "\n"
            instruction = self.mc_instruction.format(letters=", ".join(letter(i) for i in range(len(choices))))
        else:
            block, instruction = "", self.open_instruction
        return self.text.format(question=question, choices_block=block, answer_instruction=instruction)

    def messages(self, question: str, choices: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Chat messages for the backends: one user turn with the media part first, then the rendered text."""
        return [{"role": "user", "content": [{"type": self.media}, {"type": "text", "text": self.render(question,
                                                                                                      choices)}]}]


TEACHER_V1 = PromptTemplate(
    version="teacher-v1",
    text=(
        "You are watching the frames of a video clip, but you cannot hear it. Another model will only hear the "
        "audio, so your job is to work out what this scene SOUNDS like.\n"
        "Question: {question}\n"
        "{choices_block}"
        "Think step by step about the audio: which sound sources are present and which are active, when each sound "
        "starts, stops or repeats, how loud or quiet it is and whether that changes, how high or low it is "
        "(pitch, timbre, rhythm), and what the question needs to be decided from the audio alone. Describe sounds, "
        "not what is seen.\n"
        "Write your reasoning inside <think> </think>, then {answer_instruction}, exactly like "
        "<think>...</think><answer>...</answer>."
    ),
    mc_instruction="give only the letter of the correct choice ({letters}) inside <answer> </answer>",
    open_instruction="give a short phrase (a few words) inside <answer> </answer>",
)

PROMPTS: dict[str, PromptTemplate] = {TEACHER_V1.version: TEACHER_V1}


def get_prompt(version: str) -> PromptTemplate:
    """The template for a recorded version; unknown versions fail loudly rather than fall back silently."""
    try:
        return PROMPTS[version]
    except KeyError:
        raise KeyError(f"unknown prompt version {version!r}; known: {sorted(PROMPTS)}") from None
