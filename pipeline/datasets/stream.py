"""The rows of an annotation file (a JSON list) one at a time, so memory does not grow with the file.

Each row is decoded by the standard library's own decoder (`JSONDecoder.raw_decode`) on a window of the file, so a
stream yields exactly what `json.loads` of the whole file did (NaN, duplicate keys, lone surrogates, huge integers)
and a broken file fails with exactly its message and position (`invalid JSON at line 32 column 1: Expecting value`),
followed by what was expected in plain words and the text around the position (`near: 1,⟨here⟩]`).
ijson was measured and not used: its C backend rejects NaN, which `json.loads` reads (one odd row would have failed a
whole file), turns lone surrogates into '?', gives no line and column, and `ijson.items` builds a prefix string per
nesting level (a file of 100,000 nested brackets took the process past its memory).

Rows are the only unit held: a row that spans the window is retried on a window twice as large, so one huge row
costs linear time. Nesting deeper than Python's recursion limit, and integers past its digit limit, are reported
as what is wrong with the file at that row rather than raised as Python errors.
"""

from __future__ import annotations

import codecs
import json
import sys
from collections.abc import Iterator
from typing import IO, Any, NoReturn

CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"
_WHITESPACE = " \t\n\r"
_SLACK = 16  # an error this close to the window's end may be a token cut by the window (`tru|e`, `\u00|e9`)
_DECODER = json.JSONDecoder()


class AnnotationFileError(ValueError):
    """The file as a whole is unusable (not UTF-8, not JSON, not a list): no row can be trusted."""


class TooManyRows(AnnotationFileError):
    """The file has more rows than one import takes; `limit` is that number."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the file has more than {limit:,} rows")
        self.limit = limit


_JSON_TYPES = ((type(None), "null"), (bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
               (list, "list"), (dict, "object"))  # bool before int: True is an int to Python, not to JSON


def json_type(value: Any) -> str:
    """Name a value by its JSON type, which is what an annotation author thinks in."""
    for kind, name in _JSON_TYPES:
        if isinstance(value, kind):
            return name
    return type(value).__name__


def iter_rows(source: bytes | str | IO[bytes], *, max_rows: int | None = None, chunk: int = CHUNK) -> Iterator[Any]:
    """Yield the elements of the top-level JSON list in `source`, one decoded row at a time.

    Raises AnnotationFileError, with `json.loads`'s message, as soon as the file proves not to be a JSON list;
    TooManyRows on row `max_rows + 1`. A row already yielded stays valid whatever follows it: callers that must not
    act on a file that turns out broken read it once to the end first. `chunk`: bytes read at a time.
    """
    window = _Window(source, chunk)
    first = window.skip_whitespace()
    if first != "[":
        value = window.decode_value()
        window.expect_end()
        raise AnnotationFileError(f"expected a JSON list of questions at the top level, got {json_type(value)}")
    window.pos += 1
    if window.skip_whitespace() == "]":
        window.pos += 1
        window.expect_end()
        return
    count = 0
    while True:
        value = window.decode_value()
        count += 1
        if max_rows is not None and count > max_rows:
            raise TooManyRows(max_rows)
        yield value
        after = window.skip_whitespace()
        if after == "]":
            window.pos += 1
            break
        if after != ",":
            window.fail("Expecting ',' delimiter", window.pos)
        window.pos += 1
        window.skip_whitespace()
    window.expect_end()


class _Window:
    """Decoded text from the current row on, with what is needed to give a position as whole-file line:column."""

    def __init__(self, source: bytes | str | IO[bytes], chunk: int) -> None:
        self.chunk = chunk
        self.text = ""
        self.pos = 0
        self.eof = False
        self._file: IO[bytes] | None = None
        self._undecoded = b""
        self._bytes_decoded = 0
        self._dropped = 0  # characters dropped from the front of `text`
        self._dropped_lines = 0
        self._last_dropped_newline = -1
        if isinstance(source, str):
            self.text, self.eof = source.removeprefix("\ufeff"), True
        elif isinstance(source, bytes):
            self._append(source.removeprefix(_BOM), final=True)
        else:
            self._file = source
            head = source.read(len(_BOM))
            self._undecoded = head.removeprefix(_BOM)

    def read_more(self, size: int | None = None) -> bool:
        """Append the next `size` bytes (default: one chunk) of the file, decoded; False at its end."""
        if self.eof:
            return False
        assert self._file is not None
        self._drop_consumed()
        data = self._file.read(size or self.chunk)
        self._append(self._undecoded + data, final=not data)
        return True

    def _append(self, raw: bytes, *, final: bool) -> None:
        try:
            text, used = codecs.utf_8_decode(raw, "strict", final)
        except UnicodeDecodeError as exc:
            raise AnnotationFileError(
                f"file is not UTF-8 text (byte {self._bytes_decoded + exc.start}: {exc.reason})"
            ) from exc
        self._bytes_decoded += used
        self._undecoded = raw[used:]
        self.text += text
        self.eof = final

    def _drop_consumed(self) -> None:
        """Forget the text before `pos` (rows already yielded), keeping the count of lines it held."""
        if self.pos == 0:
            return
        newline = self.text.rfind("\n", 0, self.pos)
        if newline >= 0:
            self._dropped_lines += self.text.count("\n", 0, self.pos)
            self._last_dropped_newline = self._dropped + newline
        self._dropped += self.pos
        self.text = self.text[self.pos :]
        self.pos = 0

    def skip_whitespace(self) -> str:
        """Move past whitespace; the next character, or "" at the end of the file."""
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in _WHITESPACE:
                self.pos += 1
            if self.pos < len(self.text):
                if self._dropped == 0 and self.pos == 0 and self.text[0] == "\ufeff":  # a second one: as json.loads
                    self.fail("Unexpected UTF-8 BOM (decode using utf-8-sig)", 0)
                return self.text[self.pos]
            if not self.read_more():
                return ""

    def decode_value(self) -> Any:
        """Decode the JSON value at `pos`, reading on (twice as much each time) while the window may cut it."""
        size = self.chunk
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as exc:
                cut = exc.pos >= len(self.text) - _SLACK or exc.msg.startswith("Unterminated string")
                if cut and self.read_more(size):
                    size *= 2
                    continue
                self.fail(exc.msg, exc.pos)
            except RecursionError:
                self.fail("nested too deeply to read", self.pos)
            except ValueError as exc:  # an integer past sys.get_int_max_str_digits()
                self.fail(f"a number with more than {sys.get_int_max_str_digits()} digits ({exc})", self.pos)
            if end > len(self.text) - _SLACK and self.read_more(size):  # a number may go on: `1|.5`, `0.|5`, `2e|9`
                size *= 2
                continue
            self.pos = end
            return value

    def expect_end(self) -> None:
        """Only whitespace may follow the list, as `json.loads` requires."""
        if self.skip_whitespace() != "":
            self.fail("Extra data", self.pos)

    def fail(self, message: str, pos: int) -> NoReturn:
        """Raise the file-level error for `pos` in the window, as `json.loads` words it for the whole file, then
        in plain words and with the text around it (`explain`).

        A file that is also not UTF-8 further on fails as not UTF-8, as it did when the whole file was decoded first.
        """
        line = self._dropped_lines + self.text.count("\n", 0, pos) + 1
        newline = self.text.rfind("\n", 0, pos)
        column = pos - newline if newline >= 0 else self._dropped + pos - self._last_dropped_newline
        near = self.excerpt(pos)
        while self.read_more():  # raises AnnotationFileError if a byte further on is not UTF-8
            self.pos = len(self.text)
        raise AnnotationFileError(f"invalid JSON at line {line} column {column}: {message}{explain(message, near)}")

    def excerpt(self, pos: int) -> str:
        """Up to `_EXCERPT` characters of the line on either side of `pos` (what is in the window of it)."""
        start = max(self.text.rfind("\n", 0, pos) + 1, pos - _EXCERPT)
        end = self.text.find("\n", pos)
        end = min(len(self.text) if end < 0 else end, pos + _EXCERPT)
        return self.text[start:pos].lstrip() + _HERE + self.text[pos:end].rstrip()


_EXCERPT = 30
_HERE = "⟨here⟩"
# What json's messages mean to someone who wrote the file by hand or by script, and their usual cause.
_PLAIN = {
    "Expecting value": "expected a value (a string, number, object, list, true, false or null); a comma "
                       "before a closing bracket, or a file cut short, leaves this gap",
    "Expecting ',' delimiter": "expected a comma between two items, or the closing bracket; a comma may be missing "
                               "at the end of the previous line",
    "Expecting ':' delimiter": "expected a colon between a key and its value",
    "Expecting property name enclosed in double quotes": "expected a key in double quotes; a comma before '}', or "
                                                        "single quotes, cause this",
    "Unterminated string starting at": "a string opened here is never closed with a double quote",
    "Invalid control character at": "a raw line break or tab inside a string; write it as \\n or \\t",
    "Invalid \\escape": "a backslash escape JSON does not know; write a literal backslash as \\\\",
    "Invalid \\uXXXX escape": "\\u must be followed by four hexadecimal digits",
    "Extra data": "expected the end of the file after the top-level list",
}


def explain(message: str, near: str) -> str:
    """' — <what was expected, in plain words>; near: <text ⟨here⟩ text>' for an error `json` worded."""
    plain = _PLAIN.get(message)
    said = f" — {plain}" if plain else ""
    return f"{said}; near: {near}" if near != _HERE else said
