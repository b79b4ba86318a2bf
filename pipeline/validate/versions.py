"""A verdict's `validator_version`: a readable name plus a fingerprint of everything that can change the verdict.

Why: verdicts are told apart by this string (history on the review page, agreement per version on the dashboard),
so two validators that can disagree must never share it. The readable part names the parts a person compares
(tagger, matcher, judge model and prompt, policy); the fingerprint covers every threshold and knob as well, so a
changed setting is a new version even when the readable part, cut to fit, looks the same.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pipeline.validate.lexicon import LEXICON_VERSION

MAX_LENGTH = 255  # the database column's length
_FINGERPRINT = 12


def fingerprint(identity: Mapping[str, Any]) -> str:
    """A short, stable hash of a JSON-able identity (key order does not matter).

    >>> fingerprint({"a": 1, "b": [2]}) == fingerprint({"b": [2], "a": 1})
    True
    """
    text = json.dumps(identity, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:_FINGERPRINT]


def compose(readable: str, identity: Mapping[str, Any]) -> str:
    """`readable#fingerprint`, the readable part cut so the whole fits the column.

    >>> compose("x" * 300, {"k": 1})[-13:-12], len(compose("x" * 300, {"k": 1}))
    ('#', 255)
    """
    tail = f"#{fingerprint(identity)}"
    return readable[: MAX_LENGTH - len(tail)] + tail


def short(version: str) -> str:
    """The fingerprint of a composed version (or the version itself when it has none)."""
    return version.rpartition("#")[2] or version


def matcher_version(extractor_version: str) -> str:
    """The claim matcher: the extractor's own version and the lexicon it reads."""
    return f"{extractor_version}+lexicon-{LEXICON_VERSION}"


def model_name(model: str | None) -> str:
    """A model path or hub id, shortened to its last component for the readable part (the fingerprint keeps all).

    >>> model_name("/srv/models/Qwen2-Audio-7B-Instruct/"), model_name("Qwen/Qwen2-Audio-7B-Instruct")
    ('Qwen2-Audio-7B-Instruct', 'Qwen2-Audio-7B-Instruct')
    """
    return (model or "unknown-model").rstrip("/").rpartition("/")[2] or "unknown-model"
