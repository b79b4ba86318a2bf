"""MMAU annotations: audio multiple-choice questions whose answer is given as *text*, not an index.

Real-file quirks handled here (mmau-test-mini.json, 1000 rows):
- 2 to 8 choices per question, so the count is not fixed;
- some choices and answers carry stray leading/trailing spaces, so matching is done after strip;
- 13 rows store `category` as a one-element list (["Reasoning"]) instead of a string; accepted;
- `audio_id` is a relative path ("./test-mini-audios/<uuid>.wav"); the media name is its basename.
"""

from __future__ import annotations

from typing import Any

from pipeline.datasets.base import (
    QuestionRecord,
    RowContext,
    RowFormat,
    RowInvalid,
    check_keys,
    duplicate_choice_warning,
    get_choices,
    get_str,
    json_type,
    quoted,
    safe_relative_path,
)

REQUIRED_FIELDS = (
    "id",
    "audio_id",
    "question",
    "choices",
    "answer",
    "category",
    "sub-category",
    "difficulty",
)
OPTIONAL_FIELDS = ("dataset", "task", "split")
_REQUIRED = frozenset(REQUIRED_FIELDS)
_ALLOWED = _REQUIRED | frozenset(OPTIONAL_FIELDS)
MIN_CHOICES = 2


class MmauFormat(RowFormat):
    name = "mmau"
    media_kind = "audio"
    id_field = "id"
    source_names = {
        "external_id": "id", "media_name": "audio_id", "text": "question", "answer_text": "answer",
        "question_type": "task", "sub_category": "sub-category",
    }

    def build(self, obj: dict[str, Any], ctx: RowContext) -> QuestionRecord:
        check_keys(obj, _REQUIRED, _ALLOWED)
        qid = get_str(obj, "id", non_empty=True)
        audio_path = _audio_path(get_str(obj, "audio_id", non_empty=True))
        text = get_str(obj, "question", non_empty=True)
        choices = get_choices(obj, "choices")
        if len(choices) < MIN_CHOICES:
            raise RowInvalid(
                f"expected at least {MIN_CHOICES} choices, got {len(choices)}"
            )
        answer_text = get_str(obj, "answer", non_empty=True)
        if answer_text not in choices:
            raise RowInvalid(f"answer {quoted(answer_text)} is not one of the choices")
        if (warning := duplicate_choice_warning(choices)) is not None:
            ctx.warn(warning)
        optional = {k: get_str(obj, k) for k in OPTIONAL_FIELDS if k in obj}
        extra = dict(optional, audio_id=audio_path)
        return QuestionRecord(
            row=ctx.row,
            external_id=qid,
            media_name=audio_path.rsplit("/", 1)[-1],
            media_kind=self.media_kind,
            text=text,
            choices=choices,
            answer_index=choices.index(answer_text),
            answer_text=answer_text,
            # MMAU reports accuracy per sound/music/speech, which the source calls `task`;
            # its `category` is the skill axis (Reasoning / Information Extraction).
            question_type=optional.get("task", ""),
            category=_category(obj["category"]),
            sub_category=get_str(obj, "sub-category"),
            difficulty=get_str(obj, "difficulty"),
            extra=tuple(sorted(extra.items())),
        )

    def media_candidates(self, record: QuestionRecord) -> list[str]:
        candidates = [record.media_name]
        original = record.extra_value("audio_id")
        if original and original not in candidates:
            candidates.append(original)
        return candidates


def _audio_path(raw: str) -> str:
    """Normalise "./dir/x.wav" to "dir/x.wav"; refuse anything that could leave the media dir."""
    clean = safe_relative_path(raw)
    if clean is None or raw.endswith("/"):
        raise RowInvalid(f"media name must be a plain file name, got {quoted(raw)}")
    return clean


def _category(value: Any) -> str:
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
        value = value[0]
    if not isinstance(value, str):
        raise RowInvalid(f"field 'category' must be a string, got {json_type(value)}")
    return value.strip()
