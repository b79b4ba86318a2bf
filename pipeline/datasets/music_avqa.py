"""MUSIC-AVQA annotations: open-vocabulary answers over music-performance videos.

Questions are templates ("Is the <Object> louder than the <Object>?") whose placeholders are filled,
in order, from `templ_values`, a JSON-encoded list stored as a string; `type` is likewise a
JSON-encoded list ('["Audio", "Counting"]'). The answer field really is spelled `anser`.
Rows with `question_deleted` == 1 were withdrawn by the authors and are skipped, not reported.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pipeline.datasets.base import (
    QuestionRecord,
    RowContext,
    RowFormat,
    RowInvalid,
    check_keys,
    check_plain_name,
    get_int,
    get_str,
    quoted,
    video_candidates,
)

REQUIRED_FIELDS = (
    "video_id",
    "question_id",
    "type",
    "question_content",
    "templ_values",
    "anser",
)
OPTIONAL_FIELDS = ("question_deleted",)
_REQUIRED = frozenset(REQUIRED_FIELDS)
_ALLOWED = _REQUIRED | frozenset(OPTIONAL_FIELDS)
PLACEHOLDER = re.compile(r"<[A-Za-z]+>")


class MusicAvqaFormat(RowFormat):
    name = "music_avqa"
    media_kind = "video"
    id_field = "question_id"
    source_names = {
        "external_id": "question_id", "media_name": "video_id", "source_media_id": "video_id",
        "text": "question_content", "answer_text": "anser", "question_type": "type", "template": "question_content",
    }

    def build(self, obj: dict[str, Any], ctx: RowContext) -> QuestionRecord | None:
        check_keys(obj, _REQUIRED, _ALLOWED)
        if "question_deleted" in obj:
            deleted = get_int(obj, "question_deleted")
            if deleted not in (0, 1):
                raise RowInvalid(
                    f"field 'question_deleted' must be 0 or 1, got {deleted}"
                )
            if deleted == 1:
                return None
        qid = get_int(obj, "question_id")
        video_id = check_plain_name(get_str(obj, "video_id", non_empty=True))
        qtype = _json_str_list(obj, "type")
        if not qtype:
            raise RowInvalid("field 'type' is an empty list")
        template = get_str(obj, "question_content", non_empty=True)
        raw_values = obj["templ_values"]
        text = fill_template(template, _json_str_list(obj, "templ_values"))
        answer = get_str(obj, "anser", non_empty=True)
        return QuestionRecord(
            row=ctx.row,
            external_id=str(qid),
            media_name=video_id,
            media_kind=self.media_kind,
            text=text,
            choices=(),
            answer_index=None,
            answer_text=answer,
            question_type="/".join(qtype),
            source_media_id=video_id,
            extra=(("template", template), ("templ_values", raw_values)),
        )

    def media_candidates(self, record: QuestionRecord) -> list[str]:
        return video_candidates(record.media_name)


def fill_template(template: str, values: list[str]) -> str:
    """Replace each `<Word>` placeholder, left to right, with the next value."""
    slots = PLACEHOLDER.findall(template)
    if len(slots) != len(values):
        raise RowInvalid(
            f"question has {len(slots)} placeholder(s) but templ_values has {len(values)} value(s)"
        )
    it = iter(values)
    return PLACEHOLDER.sub(lambda _m: next(it), template)


def _json_str_list(obj: dict[str, Any], key: str) -> list[str]:
    raw = get_str(obj, key)
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, an integer past Python's digit limit, or nested too deep
        raise RowInvalid(f"field '{key}' is not a JSON-encoded list: {quoted(raw)}") from None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RowInvalid(f"field '{key}' must encode a list of strings: {quoted(raw)}")
    stripped = [v.strip() for v in value]
    if not all(stripped):
        raise RowInvalid(f"field '{key}' contains an empty string: {quoted(raw)}")
    return stripped
