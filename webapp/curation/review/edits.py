"""A curator's edit of a chain: it must still end in a valid <answer>, and is re-parsed and re-scored when written."""

from __future__ import annotations

import re
from dataclasses import dataclass

from webapp.catalog.models import Question
from webapp.curation.models import Chain, ChainRevision, Review
from webapp.curation.review.errors import InvalidEdit

try:  # the shared answer parser (pipeline/answers.py); the fallback keeps review usable without it
    from pipeline.answers import extract_answer, extract_open_answer, format_ok
except ImportError:  # pragma: no cover - only while pipeline/answers.py is absent
    extract_answer = extract_open_answer = format_ok = None  # type: ignore[assignment]

_ENDS_IN_ANSWER = re.compile(r"<answer>(?P<inner>(?:(?!</?answer>).)+)</answer>\s*\Z", re.DOTALL | re.IGNORECASE)


@dataclass
class ParsedEdit:
    text: str
    parsed_answer: int | None
    open_answer: str
    format_ok: bool


def parse_edit(text: str, question: Question) -> ParsedEdit:
    """An edit must still end in a valid <answer>: for a multiple-choice question, one of its options."""
    text = text.replace("\r\n", "\n").strip()
    match = _ENDS_IN_ANSWER.search(text)
    if not text or match is None:
        raise InvalidEdit("The edited chain must end in <answer>…</answer>.")
    if question.choices:
        index = extract_answer(text, question.choices) if extract_answer else _local_letter(match["inner"], question)
        if index is None:
            letters = "/".join(letter for letter, _, _ in question.lettered_choices)
            raise InvalidEdit(f"The final <answer> must name one of the options ({letters}).")
        return ParsedEdit(text, index, "", bool(format_ok and format_ok(text)))
    answer = (extract_open_answer(text) if extract_open_answer else match["inner"].strip()) or ""
    if not answer:
        raise InvalidEdit("The final <answer> is empty.")
    return ParsedEdit(text, None, answer, bool(format_ok and format_ok(text)))


def _local_letter(inner: str, question: Question) -> int | None:  # pragma: no cover - fallback parser
    token = inner.strip().strip("()[]. ").upper()
    index = ord(token) - ord("A") if len(token) == 1 and token.isalpha() else -1
    return index if 0 <= index < len(question.choices) else None


def edit_is_correct(parsed: ParsedEdit, question: Question) -> bool | None:
    """Is a curator's edited answer right? By the same rules the teacher, rewards and evaluation use."""
    if question.choices:
        return parsed.parsed_answer == question.answer_index if question.answer_index is not None else None
    from pipeline.answers import open_answer_matches

    return open_answer_matches(parsed.open_answer, question.answer_text)


def store_revision(review: Review, chain: Chain, parsed: ParsedEdit) -> ChainRevision:
    """The edited text beside the teacher's, re-scored, tied to the review (an edit, or a ruling taking one)."""
    return ChainRevision.objects.create(
        review=review, chain=chain, text=parsed.text, parsed_answer=parsed.parsed_answer,
        open_answer=parsed.open_answer, is_correct=edit_is_correct(parsed, chain.question),
        format_ok=parsed.format_ok,
    )
