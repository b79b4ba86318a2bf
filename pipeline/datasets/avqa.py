"""AVQA (ACM MM 2022) annotations: 4-way multiple choice over VGGSound clips.

Rows look like {"id": 1, "video_name": "-HG3Omg_89c_000030", "video_id": 341, "question_text": ...,
"multi_choice": [4 strings], "answer": 1, "question_relation": "View", "question_type": "Happening"}.
The teacher pipeline assumes exactly four choices, so any other count is rejected rather than padded.
"""

from __future__ import annotations

from typing import Any

from pipeline.datasets.base import (
    QuestionRecord,
    RowContext,
    RowFormat,
    RowInvalid,
    check_answer_index,
    check_keys,
    check_plain_name,
    duplicate_choice_warning,
    get_choices,
    get_int,
    get_str,
    video_candidates,
)

REQUIRED_FIELDS = (
    "id",
    "video_name",
    "video_id",
    "question_text",
    "multi_choice",
    "answer",
    "question_relation",
    "question_type",
)
N_CHOICES = 4
_REQUIRED = frozenset(REQUIRED_FIELDS)


class AvqaFormat(RowFormat):
    name = "avqa"
    media_kind = "video"
    id_field = "id"
    source_names = {
        "external_id": "id", "media_name": "video_name", "source_media_id": "video_id", "text": "question_text",
        "choices": "multi_choice", "answer_text": "multi_choice",
    }

    def build(self, obj: dict[str, Any], ctx: RowContext) -> QuestionRecord:
        check_keys(obj, _REQUIRED, _REQUIRED)
        qid = get_int(obj, "id")
        video_name = check_plain_name(get_str(obj, "video_name", non_empty=True))
        video_id = get_int(obj, "video_id")
        text = get_str(obj, "question_text", non_empty=True)
        choices = get_choices(obj, "multi_choice")
        if len(choices) != N_CHOICES:
            raise RowInvalid(f"expected {N_CHOICES} choices, got {len(choices)}")
        answer = get_int(obj, "answer")
        check_answer_index(answer, choices)
        if (warning := duplicate_choice_warning(choices)) is not None:
            ctx.warn(warning)
        return QuestionRecord(
            row=ctx.row,
            external_id=str(qid),
            media_name=video_name,
            media_kind=self.media_kind,
            text=text,
            choices=choices,
            answer_index=answer,
            answer_text=choices[answer],
            question_type=get_str(obj, "question_type"),
            question_relation=get_str(obj, "question_relation"),
            source_media_id=str(video_id),
        )

    def media_candidates(self, record: QuestionRecord) -> list[str]:
        return video_candidates(record.media_name)
