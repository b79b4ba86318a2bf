"""What a record's strings may hold, so that every record the parsers accept is one the database can store.

Why here: SQLite stores a string of any length in a `CharField`, PostgreSQL refuses it, and refused mid-import it
used to abort the import half-way. The pipeline must not import Django, so the limits are declared here and a
test of the web app (`tests/webapp/test_import_limits.py`) checks them against the model fields' `max_length`.
Free text (question, answers, choices, extras) is unbounded in the database; its limit is a sanity bound.
PostgreSQL also refuses NUL in text, and no database takes a lone surrogate (UTF-8 cannot encode one).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

TEXT_LIMIT = 10_000

FIELD_LIMITS: dict[str, int] = {
    "external_id": 64,  # Question.external_id
    "media_name": 255,  # Clip.name
    "media_kind": 8,  # Clip.kind (set by the format, not by the file)
    "source_media_id": 64,  # Clip.source_media_id
    "question_type": 64,
    "question_relation": 64,
    "category": 64,
    "sub_category": 128,
    "difficulty": 32,
    "text": TEXT_LIMIT,
    "answer_text": TEXT_LIMIT,
    "choices": TEXT_LIMIT,  # each choice
    "extra": TEXT_LIMIT,  # each value
}

# What an imported chain's strings may hold (pipeline/chain_import.py); checked against `Chain` and `Question` like
# FIELD_LIMITS. A chain's text is free text in the database: its bound is a sanity one, above any token budget.
CHAIN_LIMITS: dict[str, int] = {
    "id": 64,  # the chain's own id in the file (reported with its errors)
    "question": 64,  # Question.external_id
    "text": 100_000,
    "finish_reason": 16,  # Chain.finish_reason
    "model": 500,  # GenerationRun.model
    "prompt_version": 64,  # GenerationRun.prompt_version
}

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def value_problem(value: str, limit: int, source_field: str) -> str | None:
    """Why `value` cannot be stored, naming the field as the source file spells it; None when it can."""
    if len(value) > limit:
        return f"field '{source_field}' is too long: {len(value)} characters, at most {limit}"
    if (bad := _UNSTORABLE.search(value)) is not None:
        what = "a NUL character" if bad.group() == "\x00" else f"an unpaired surrogate ({bad.group()!a})"
        return f"field '{source_field}' contains {what}, which cannot be stored"
    return None


def record_problem(record: object, source_names: Mapping[str, str]) -> str | None:
    """The first string of a `QuestionRecord` that its field cannot store, or None.

    `source_names` maps record fields (and `extra` keys) to the names the source file uses. The record is taken
    untyped so this module stays below `base` (which calls it) without an import cycle. Every row of an import
    passes here, so a string that fits costs a length check and one regex search, no call.
    """
    for name, limit in FIELD_LIMITS.items():
        value = getattr(record, name)
        if name == "extra":
            for key, item in value:
                if len(item) > limit or _UNSTORABLE.search(item) is not None:
                    return value_problem(item, limit, source_names.get(key, key))
            continue
        for item in value if name == "choices" else (value,):
            if len(item) > limit or _UNSTORABLE.search(item) is not None:
                return value_problem(item, limit, source_names.get(name, name))
    return None
