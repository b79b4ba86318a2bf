"""Shared types and row-validation machinery for annotation formats.

Annotation files from public datasets are messy; the web app must show a curator exactly which rows
are wrong and why, while still importing the good ones. So parsing never stops at the first bad row:
each row becomes either a `QuestionRecord` or a `RowError`. Only a file that cannot be read as a JSON
list at all raises `AnnotationFileError` (from `stream`, which reads the file one row at a time).

No media is touched here: `resolve_media` only looks for files, the web app checks decodability.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any, ClassVar, Protocol, runtime_checkable

from pipeline.datasets.limits import FIELD_LIMITS, record_problem, value_problem
from pipeline.datasets.stream import iter_rows, json_type

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mkv", ".webm", ".avi", ".mov")


class RowInvalid(Exception):
    """Raised inside a format's row builder; carries the curator-facing reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class QuestionRecord:
    """One validated question, normalised across source formats.

    Frozen and built from tuples so records can be hashed, compared and used as dict keys.
    """

    row: int
    external_id: str
    media_name: str
    media_kind: str
    text: str
    choices: tuple[str, ...]
    answer_index: int | None
    answer_text: str
    question_type: str = ""
    question_relation: str = ""
    category: str = ""
    sub_category: str = ""
    difficulty: str = ""
    source_media_id: str = ""
    extra: tuple[tuple[str, str], ...] = ()

    def content(self) -> dict[str, Any]:
        """Every field except `row`: the row's position is not part of what the question *is*."""
        out = {name: getattr(self, name) for name in _CONTENT_FIELDS}
        out["choices"], out["extra"] = list(self.choices), dict(self.extra)
        return out

    def content_hash(self) -> str:
        """Stable fingerprint so a re-import can tell unchanged questions from edited ones.

        Kept on the record once computed: the parser's duplicate check and the importer both ask for it.
        """
        digest = self.__dict__.get("_content_hash")
        if digest is None:
            payload = json.dumps(self.content(), sort_keys=True, ensure_ascii=False)
            digest = hashlib.sha256(payload.encode("utf-8")).hexdigest()
            object.__setattr__(self, "_content_hash", digest)  # frozen: not a field, so eq and hash ignore it
        return digest

    def extra_value(self, key: str, default: str = "") -> str:
        """Look up one `extra` pair (they are stored as a tuple to keep the record hashable)."""
        for k, v in self.extra:
            if k == key:
                return v
        return default


_CONTENT_FIELDS = tuple(f.name for f in dataclasses.fields(QuestionRecord) if f.name != "row")


@dataclass(frozen=True)
class RowError:
    """Why one row was rejected; `row` is the 1-based position in the JSON list."""

    row: int | None
    external_id: str | None
    reason: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "file"
        if self.external_id is not None:
            where += f" (id {self.external_id})"
        return f"{where}: {self.reason}"


@dataclass
class ParseResult:
    """Outcome of parsing one file.

    `duplicates` counts identical repeats of an id (harmless, skipped); `skipped` counts rows the
    source itself marks as withdrawn (MUSIC-AVQA `question_deleted`). `warnings` flags rows that were
    accepted but deserve a curator's look (e.g. duplicated choice texts).
    """

    records: list[QuestionRecord]
    errors: list[RowError]
    duplicates: int = 0
    skipped: int = 0
    warnings: list[RowError] = field(default_factory=list)


@runtime_checkable
class AnnotationFormat(Protocol):
    """What the web app needs from a dataset format."""

    name: str
    media_kind: str

    def parse(self, data: bytes | str | IO[bytes]) -> ParseResult: ...

    def stream(self, source: bytes | str | IO[bytes], *, max_rows: int | None = None) -> RowStream: ...

    def media_candidates(self, record: QuestionRecord) -> list[str]: ...


# --------------------------------------------------------------------------- value checks


def check_keys(
    obj: Mapping[str, Any], required: frozenset[str], allowed: frozenset[str]
) -> None:
    """Reject rows with missing or unexpected fields, naming all of them at once.

    Takes precomputed sets so the common all-good row costs two set comparisons.
    """
    keys = obj.keys()
    if required <= keys <= allowed:
        return
    problems = []
    missing = sorted(required - keys)
    if missing:
        problems.append("missing required fields: " + ", ".join(missing))
    unknown = sorted(k if k.isprintable() and len(k) <= 64 else quoted(k) for k in obj if k not in allowed)
    if unknown:
        problems.append("unknown fields: " + ", ".join(unknown))
    if problems:
        raise RowInvalid("; ".join(problems))


def get_int(obj: Mapping[str, Any], key: str) -> int:
    """JSON integers only: `true` is not 1, and 1.0 is not an index."""
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise RowInvalid(f"field '{key}' must be an integer, got {json_type(value)}")
    return value


def get_str(obj: Mapping[str, Any], key: str, *, non_empty: bool = False) -> str:
    """A stripped string; surrounding whitespace in source files is noise, not content."""
    value = obj[key]
    if not isinstance(value, str):
        raise RowInvalid(f"field '{key}' must be a string, got {json_type(value)}")
    value = value.strip()
    if non_empty and not value:
        raise RowInvalid(f"field '{key}' is empty")
    return value


def get_choices(obj: Mapping[str, Any], key: str) -> tuple[str, ...]:
    """A list of non-empty strings, stripped (the count is the format's business)."""
    value = obj[key]
    if not isinstance(value, list):
        raise RowInvalid(
            f"field '{key}' must be a list of strings, got {json_type(value)}"
        )
    out = []
    for i, choice in enumerate(value):
        if not isinstance(choice, str):
            raise RowInvalid(f"choice {i} must be a string, got {json_type(choice)}")
        choice = choice.strip()
        if not choice:
            raise RowInvalid(f"choice {i} is empty")
        out.append(choice)
    return tuple(out)


def check_answer_index(index: int, choices: tuple[str, ...]) -> None:
    if not 0 <= index < len(choices):
        raise RowInvalid(f"answer index {index} out of range 0..{len(choices) - 1}")


def quoted(value: str, limit: int = 200) -> str:
    """`repr` of a value for a message, cut short: a 10 MB field must not become a 10 MB error message."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value)} characters)"


def check_plain_name(name: str) -> str:
    """A media name is joined onto the media dir, so it must not be able to point anywhere else."""
    if not name or name in {".", ".."} or "/" in name or "\\" in name or "\x00" in name:
        raise RowInvalid(f"media name must be a plain file name, got {quoted(name)}")
    return name


def safe_relative_path(path: str) -> str | None:
    """Return `path` as a clean relative POSIX path, or None if it could leave its base dir."""
    if not path or "\\" in path or "\x00" in path:
        return None
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts:
        return None
    parts = [p for p in pure.parts if p != "."]
    if not parts or ":" in parts[0]:  # "C:" style drive prefixes
        return None
    return "/".join(parts)


def duplicate_choice_warning(choices: tuple[str, ...]) -> str | None:
    """Repeated choice texts make index-based grading ambiguous; worth flagging, not rejecting."""
    seen: set[str] = set()
    repeated = []
    for c in choices:
        if c in seen and c not in repeated:
            repeated.append(c)
        seen.add(c)
    if not repeated:
        return None
    return "duplicate choice texts: " + ", ".join(quoted(c) for c in repeated)


def video_candidates(name: str) -> list[str]:
    """Source datasets name clips without an extension; try the containers we can decode."""
    candidates = []
    if name.lower().endswith(VIDEO_EXTENSIONS):
        candidates.append(name)
    candidates.extend(name + ext for ext in VIDEO_EXTENSIONS)
    return candidates


# --------------------------------------------------------------------------- the row loop


@dataclass
class RowContext:
    """Lets a row builder report a warning without failing the row.

    One context is reused for every row of a parse (big files: fewer allocations).
    """

    row: int = 0
    external_id: str | None = None
    warnings: list[RowError] = field(default_factory=list)

    def warn(self, reason: str) -> None:
        self.warnings.append(RowError(self.row, self.external_id, reason))


class RowFormat:
    """Base for formats that are a JSON list of flat objects with one id field.

    Subclasses implement `build`; this class owns the row loop, error capture and id de-duplication
    so every format reports problems the same way.
    """

    name: ClassVar[str]
    media_kind: ClassVar[str]
    id_field: ClassVar[str]
    # Record field (or `extra` key) -> the name the source file uses, for messages about a value's length.
    source_names: ClassVar[Mapping[str, str]] = {}

    def build(self, obj: dict[str, Any], ctx: RowContext) -> QuestionRecord | None:
        """Turn one row into a record; return None to skip it silently; raise RowInvalid to reject."""
        raise NotImplementedError

    def media_candidates(self, record: QuestionRecord) -> list[str]:
        raise NotImplementedError

    def parse(self, data: bytes | str | IO[bytes]) -> ParseResult:
        """The whole file's outcome at once (tests, the CLI); the web app iterates `stream` instead."""
        stream = self.stream(data)
        records = list(stream)
        return ParseResult(records=records, errors=stream.errors, duplicates=stream.duplicates,
                           skipped=stream.skipped, warnings=stream.warnings)

    def stream(self, source: bytes | str | IO[bytes], *, max_rows: int | None = None) -> RowStream:
        """The file's records as they are read; see `RowStream`."""
        return RowStream(self, iter_rows(source, max_rows=max_rows))

    def _external_id(self, obj: Mapping[str, Any]) -> str | None:
        """The id for error messages; only scalar ids that could be stored are trusted enough to echo back (the
        report itself is stored: PostgreSQL refuses NUL in JSON)."""
        value = obj.get(self.id_field)
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return None
        text = str(value)
        return text if value_problem(text, FIELD_LIMITS["external_id"], self.id_field) is None else None


class RowStream:
    """The records of one file as it is read; errors, warnings and counts accumulate alongside.

    This class owns the row loop, error capture and id de-duplication so every format reports problems the same
    way. Memory per row is one id and its content hash (to tell an identical repeat from a conflicting one), not the
    row: a file of any size streams through.
    """

    def __init__(self, fmt: RowFormat, rows: Iterator[Any]) -> None:
        self.fmt = fmt
        self._rows = rows
        self.errors: list[RowError] = []
        self.warnings: list[RowError] = []
        self.duplicates = 0
        self.skipped = 0
        self.accepted = 0

    def __iter__(self) -> Iterator[QuestionRecord]:
        # id -> its first record's row (8 bytes) and content hash (32): one bytes object, the least a row costs
        first_by_id: dict[str, bytes] = {}
        ctx = RowContext()
        for row_no, obj in enumerate(self._rows, start=1):
            if not isinstance(obj, dict):
                self.errors.append(RowError(row_no, None, f"expected an object, got {json_type(obj)}"))
                continue
            external_id = self.fmt._external_id(obj)
            ctx.row, ctx.external_id = row_no, external_id
            ctx.warnings.clear()
            try:
                record = self.fmt.build(obj, ctx)
                if record is not None and (problem := record_problem(record, self.fmt.source_names)) is not None:
                    raise RowInvalid(problem)
            except RowInvalid as exc:
                self.errors.append(RowError(row_no, external_id, exc.reason))
                continue
            if record is None:
                self.skipped += 1
                continue
            digest = bytes.fromhex(record.content_hash())
            first = first_by_id.get(record.external_id)
            if first is not None:
                if first[8:] == digest:
                    self.duplicates += 1
                else:
                    first_row = int.from_bytes(first[:8], "big")
                    self.errors.append(
                        RowError(row_no, external_id, f"conflicts with row {first_row} (same id, different content)")
                    )
                continue
            first_by_id[record.external_id] = record.row.to_bytes(8, "big") + digest
            self.accepted += 1
            self.warnings.extend(ctx.warnings)
            yield record
        logger.info(
            "parsed %s annotations: %d records, %d errors, %d duplicates, %d skipped",
            self.fmt.name, self.accepted, len(self.errors), self.duplicates, self.skipped,
        )


# --------------------------------------------------------------------------- media lookup


def resolve_media(
    fmt: AnnotationFormat, media_dir: Path, record: QuestionRecord
) -> Path | None:
    """First existing candidate file under `media_dir`, or None.

    Candidates are re-checked here (not only at parse time) because records may come back from the
    database; a name that could climb out of `media_dir` is never joined onto it. Symlinks inside
    `media_dir` are followed on purpose: large datasets are commonly linked in, not copied.
    """
    for candidate in fmt.media_candidates(record):
        clean = safe_relative_path(candidate)
        if clean is None:
            logger.warning(
                "refusing unsafe media candidate %r for record %s",
                candidate,
                record.external_id,
            )
            continue
        path = media_dir / clean
        try:
            if path.is_file():
                return path
        except OSError:  # a name over the file system's limits (ENAMETOOLONG) names no file there
            continue
    return None
