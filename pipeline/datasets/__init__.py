"""Annotation formats the web app can import, keyed by the name stored with each dataset."""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline.datasets.avqa import AvqaFormat
from pipeline.datasets.base import (
    AnnotationFormat,
    ParseResult,
    QuestionRecord,
    RowError,
    RowStream,
    resolve_media,
)
from pipeline.datasets.mmau import MmauFormat
from pipeline.datasets.music_avqa import MusicAvqaFormat
from pipeline.datasets.stream import AnnotationFileError, TooManyRows, iter_rows

logger = logging.getLogger(__name__)

FORMATS: dict[str, AnnotationFormat] = {
    fmt.name: fmt for fmt in (AvqaFormat(), MmauFormat(), MusicAvqaFormat())
}


def parse_file(fmt_name: str, path: Path) -> ParseResult:
    """Parse one annotation file with the named format.

    An unknown format name is a caller bug, not bad data: ValueError naming the known formats.
    An unreadable file raises AnnotationFileError, like unusable content, so callers catch one type.
    """
    try:
        fmt = FORMATS[fmt_name]
    except KeyError:
        raise ValueError(
            f"unknown annotation format {fmt_name!r} (known: {', '.join(sorted(FORMATS))})"
        ) from None
    try:
        fh = Path(path).open("rb")
    except OSError as exc:
        raise AnnotationFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    logger.debug("parsing %s as %s", path, fmt_name)
    with fh:
        return fmt.parse(fh)


__all__ = [
    "FORMATS",
    "AnnotationFileError",
    "AnnotationFormat",
    "ParseResult",
    "QuestionRecord",
    "RowError",
    "RowStream",
    "TooManyRows",
    "iter_rows",
    "parse_file",
    "resolve_media",
]
