"""HTTP Range (RFC 9110 §14) for media: browsers need 206 responses to seek in <video> and <audio>."""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator
from pathlib import Path

from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.http import http_date

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 256 * 1024
_MAX_DIGITS = 18  # any offset longer than this is past the end of every file (and int() refuses > 4300 digits)
# Shown in the page (a <video>, <audio> or <img> plays them); anything else downloads, so a file that is also HTML
# can never run in the app's origin. SVG is an image that can carry script: it downloads too.
INLINE_TYPES = ("audio/", "video/", "image/png", "image/jpeg", "image/gif", "image/webp")
# On every file response: even opened directly, a served file runs nothing and loads nothing.
SANDBOX_CSP = "default-src 'none'; media-src 'self'; img-src 'self'; sandbox"

mimetypes.add_type("audio/wav", ".wav")
mimetypes.add_type("audio/ogg", ".ogg")
mimetypes.add_type("audio/flac", ".flac")


class Unsatisfiable(Exception):
    pass


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """Return the inclusive (start, end) to serve, or None to serve the whole file.

    Malformed or multi-range headers are ignored (a 200 is always a valid answer); a syntactically
    valid range that lies past the end raises Unsatisfiable (416).
    """
    match = _RANGE.match(header.strip())
    if not match:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if len(first) > _MAX_DIGITS:
        raise Unsatisfiable
    last = last if len(last) <= _MAX_DIGITS else str(size)
    if first == "":  # suffix range: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise Unsatisfiable
        return max(0, size - length), size - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise Unsatisfiable
    end = int(last) if last else size - 1
    return start, min(end, size - 1)


def _read(path: Path, start: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as fh:
        fh.seek(start)
        remaining = length
        while remaining > 0:
            block = fh.read(min(CHUNK, remaining))
            if not block:
                break
            remaining -= len(block)
            yield block


def ranged_file_response(request: HttpRequest, path: Path) -> HttpResponse:
    stat = path.stat()
    size = stat.st_size
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    etag = f'"{stat.st_mtime_ns:x}-{size:x}"'
    header = request.headers.get("Range", "")
    if_range = request.headers.get("If-Range")
    byte_range: tuple[int, int] | None = None
    if header and (if_range is None or if_range == etag):
        try:
            byte_range = parse_range(header, size)
        except Unsatisfiable:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            response["Accept-Ranges"] = "bytes"
            return response
    if byte_range is None:
        response: HttpResponse = FileResponse(path.open("rb"), content_type=content_type)
        response["Content-Length"] = str(size)
    else:
        start, end = byte_range
        response = StreamingHttpResponse(_read(path, start, end - start + 1), status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    response["Accept-Ranges"] = "bytes"
    response["ETag"] = etag
    response["Last-Modified"] = http_date(stat.st_mtime)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = SANDBOX_CSP
    inline = content_type.startswith(INLINE_TYPES)
    response["Content-Disposition"] = "inline" if inline else f'attachment; filename="{_ascii_name(path.name)}"'
    return response


def _ascii_name(name: str) -> str:
    """A filename safe inside a quoted header value."""
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name) or "file"
