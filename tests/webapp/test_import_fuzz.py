"""Property: a malformed annotation file never crashes an import, and every row is imported or reported with a reason.

Files are drawn from the three formats' real row shapes, then broken the ways real files break: wrong types, huge
and odd-unicode strings (NUL, lone surrogates, right-to-left marks), NaN, integers past Python's digit limit, deep
nesting, duplicate keys, rows that are not objects, repeats, and truncation. Each goes through the web app's own
import path (`run_import`, as the command and the upload job call it) on the test database: SQLite by default,
PostgreSQL when DATABASE_URL points to it (where a value too long for its column used to abort the import).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipeline.datasets import AnnotationFileError
from tests.pipeline.test_datasets import avqa_row, mmau_row, music_row
from webapp.catalog.imports import new_import_run, run_import
from webapp.catalog.models import Dataset, ImportRun, Question

pytestmark = pytest.mark.django_db

ROWS = {"avqa": avqa_row, "mmau": mmau_row, "music_avqa": music_row}
ID_KEY = {"avqa": "id", "mmau": "id", "music_avqa": "question_id"}
DEEP, HUGE_INT, DUP = "__deep__", "__huge_int__", "__dup__"  # stand-ins replaced in the JSON text

_ODD_TEXT = st.sampled_from([
    "", " ", "\x00", "a\x00b", "\ud800", "x\udfffy", "\u202eevil", "\ufeffbom", "🎻 violin", "e\u0301", "../x", "a/b",
    "<Object>", "[" * 3000, '["ok", 1]', "x" * 65, "y" * 256, "z" * 10_001, "NaN", DEEP, HUGE_INT,
])
_TEXT = _ODD_TEXT | st.text(st.characters(codec="utf-8"), max_size=16)
_SCALAR = (_TEXT | st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.sampled_from([10**70, -1, 0, 4])
           | st.floats(allow_nan=True, allow_infinity=True))
_VALUE = st.recursive(_SCALAR, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=3),
                      max_leaves=8)


@st.composite
def annotation_files(draw: st.DrawFn, source_format: str) -> str:
    make_row = ROWS[source_format]
    rows: list[Any] = []
    for n in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["good", "broken", "broken", "broken", "not an object", "repeat"]))
        row: Any = make_row(**{ID_KEY[source_format]: n if source_format != "mmau" else f"q{n}"})
        if kind == "broken":
            for key in draw(st.lists(st.sampled_from([*sorted(row), "extra"]), min_size=1, max_size=3, unique=True)):
                if draw(st.booleans()):
                    row[key] = draw(_VALUE)
                else:
                    row.pop(key, None)
            if draw(st.booleans()):
                row[DUP] = draw(_VALUE)  # becomes a second id key, after the first
        elif kind == "not an object":
            row = draw(_VALUE)
        elif kind == "repeat" and rows:
            row = draw(st.sampled_from(rows))
        rows.append(row)
    text = json.dumps(rows, ensure_ascii=draw(st.booleans()))
    text = (text.replace(json.dumps(DEEP), "[" * 5000 + "]" * 5000).replace(json.dumps(HUGE_INT), "7" * 5000)
            .replace(json.dumps(DUP), json.dumps(ID_KEY[source_format])))
    if draw(st.integers(0, 4)) == 0:
        text = text[: draw(st.integers(0, len(text)))]
    return text


_names = itertools.count()


def assert_imported_or_reported(source_format: str, text: str, tmp_path: Path) -> None:
    path = tmp_path / "fuzz.json"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))  # a raw lone surrogate: a file that is not UTF-8
    try:
        rows = json.loads(path.read_bytes().decode("utf-8"))
    except (ValueError, RecursionError):  # not UTF-8, not JSON, nested too deep, an integer past the digit limit
        rows = None
    name = f"fuzz-{next(_names)}"
    dataset = Dataset.objects.create(name=name, slug=name, source_format=source_format)

    def import_once() -> tuple[ImportRun, Any]:
        run = new_import_run(dataset, source_name=path.name, split="train", media_dir=None, allow_missing_media=True)
        try:
            return run, run_import(run, path)
        except AnnotationFileError:
            run.refresh_from_db()
            return run, None

    run, report = import_once()
    if report is None:  # refused as a whole: with its reason, and nothing imported
        assert not isinstance(rows, list), f"a JSON list was refused: {run.errors}"
        assert run.status == "failed" and run.errors[0]["row"] is None and run.errors[0]["reason"]
        assert not Question.objects.filter(dataset=dataset).exists()
        return
    assert isinstance(rows, list) and run.status == "succeeded"
    assert report.attached == 0
    reported = [e["row"] for e in report.errors]
    assert all(e["reason"] for e in report.errors) and len(set(reported)) == len(reported)
    assert set(reported) <= set(range(1, len(rows) + 1))
    assert report.created + report.duplicates + report.skipped + len(report.errors) == len(rows)
    assert Question.objects.filter(dataset=dataset).count() == report.created
    _, again = import_once()  # re-importing the same file is a no-op
    assert again is not None and (again.created, again.unchanged) == (0, report.created)
    assert again.errors == report.errors


def _file(source_format: str, **overrides: Any) -> str:
    return json.dumps([ROWS[source_format](), ROWS[source_format](**{ID_KEY[source_format]: 2, **overrides})])


_cases = st.sampled_from(sorted(ROWS)).flatmap(lambda fmt: st.tuples(st.just(fmt), annotation_files(fmt)))


# Each @example is a file that crashed an import before the fixes (found or confirmed by the property).
@settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=_cases)
@example(case=("avqa", _file("avqa", question_type="t" * 65)))  # PostgreSQL: DataError aborted the import
@example(case=("avqa", _file("avqa", id=10**70)))  # an id longer than its column
@example(case=("avqa", _file("avqa", question_text="a\x00b")))  # PostgreSQL refuses NUL in text
@example(case=("avqa", _file("avqa", video_name="\ud800")))  # a lone surrogate: the content hash raised
@example(case=("avqa", "[" + "[" * 5000 + "]" * 5000 + "]"))  # json.loads raised RecursionError
@example(case=("avqa", '[{"id": ' + "7" * 5000 + "}]"))  # json.loads raised ValueError (digit limit)
@example(case=("mmau", _file("mmau", difficulty="d" * 33)))
@example(case=("mmau", _file("mmau", audio_id="./" + "d" * 300 + "/q.wav")))  # media lookup: ENAMETOOLONG
@example(case=("mmau", json.dumps([mmau_row(id="a"), mmau_row(id=None)])))  # mixed id types: fingerprint raised
@example(case=("mmau", _file("mmau", choices=["dog", "c\x00t"], answer="dog")))
@example(case=("mmau", json.dumps([mmau_row(id="a\x00b", answer=1)])))  # PostgreSQL: NUL in the stored report's id
@example(case=("mmau", json.dumps([mmau_row(**{"\x00\ud800": 1})])))  # ... and in an unknown field's name
@example(case=("music_avqa", _file("music_avqa", templ_values="[" * 3000)))  # RecursionError inside a row
@example(case=("music_avqa", _file("music_avqa", templ_values="[" + "7" * 5000 + "]")))  # ValueError inside a row
@example(case=("music_avqa", _file("music_avqa", video_id="v" * 256)))
def test_a_malformed_file_never_crashes_an_import(case: tuple[str, str], tmp_path: Path) -> None:
    """40 drawn files per format (120 in all), plus the regressions."""
    assert_imported_or_reported(*case, tmp_path)
