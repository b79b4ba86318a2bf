"""Text from models goes into the database as-is, except what the database cannot hold.

PostgreSQL text columns reject NUL bytes, and a byte-level tokenizer can decode one (random tiny models do
it often); SQLite would store it. Replacing NUL keeps both backends identical and loses nothing useful.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any


def model_name(model: str) -> str:
    """A model path's last component (a hub id's name): what tells runs apart in a list, where checkpoint paths
    share long prefixes and a path cut to fit loses exactly the name."""
    return PurePosixPath(model.rstrip("/")).name or model


def db_safe(text: str) -> str:
    return text.replace("\x00", "\ufffd")


def db_safe_json(value: Any) -> Any:
    if isinstance(value, str):
        return db_safe(value)
    if isinstance(value, list):
        return [db_safe_json(v) for v in value]
    if isinstance(value, dict):
        return {k: db_safe_json(v) for k, v in value.items()}
    return value
