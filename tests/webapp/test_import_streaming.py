"""Imports hold a bounded amount: an upload is refused as its bytes pass the limit, a file past the row cap is
refused before any row lands, and the file is read as a stream (a cut-off file still imports nothing)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.core.management import CommandError, call_command
from django.test import Client

from tests.webapp.test_import_limits import mmau_row
from webapp.catalog.models import Clip, Dataset, ImportRun, Question

pytestmark = pytest.mark.django_db


def _import_mmau(path: Path, media: Path) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_mmau", str(path), audio=str(media), allow_missing_media=True, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


class _Recorder(FileUploadHandler):
    """Stands after the limit in the handler chain: what it sees is what could have been stored."""

    seen = 0

    def receive_data_chunk(self, raw_data, start):  # type: ignore[no-untyped-def]
        type(self).seen += len(raw_data)
        return raw_data

    def file_complete(self, file_size):  # type: ignore[no-untyped-def]
        return None


def test_an_upload_over_the_byte_limit_is_refused_while_it_is_read(
        admin_client: Client, settings, tmp_path: Path, media_root: Path) -> None:
    settings.IMPORT_MAX_UPLOAD_BYTES = 64 * 1024
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024  # Django would spill the upload to a temporary file
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "spool")
    (tmp_path / "spool").mkdir()
    settings.FILE_UPLOAD_HANDLERS = [*settings.FILE_UPLOAD_HANDLERS, f"{__name__}._Recorder"]
    _Recorder.seen = 0
    body = json.dumps([mmau_row(n) for n in range(2000)]).encode()
    assert len(body) > 4 * settings.IMPORT_MAX_UPLOAD_BYTES
    r = admin_client.post("/imports/new/", {
        "source_format": "mmau", "dataset": "big", "split": "test", "allow_missing_media": "on",
        "annotations": SimpleUploadedFile("big.json", body, content_type="application/json"),
    })
    assert r.status_code == 400
    assert "Annotation files over 64 KB: use the import command instead." in r.content.decode()
    assert _Recorder.seen <= settings.IMPORT_MAX_UPLOAD_BYTES  # the rest was never handed on to be kept
    assert not ImportRun.objects.exists() and not any((tmp_path / "spool").iterdir())
    assert not (media_root / "uploads").exists()


def test_the_upload_form_still_checks_its_csrf_token(users) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(users["admin"])
    r = client.post("/imports/new/", {"source_format": "mmau", "dataset": "x", "split": "test",
                                      "annotations": SimpleUploadedFile("x.json", b"[]")})
    assert r.status_code == 403 and not ImportRun.objects.exists()


def test_an_upload_within_the_byte_limit_is_queued(admin_client: Client, settings) -> None:
    settings.IMPORT_MAX_UPLOAD_BYTES = 64 * 1024
    body = json.dumps([mmau_row(n) for n in range(3)]).encode()
    r = admin_client.post("/imports/new/", {
        "source_format": "mmau", "dataset": "small", "split": "test", "allow_missing_media": "on",
        "annotations": SimpleUploadedFile("small.json", body, content_type="application/json"),
    })
    assert r.status_code == 302 and ImportRun.objects.get().status == "queued"


def test_a_file_over_the_row_cap_is_refused_before_any_row_imports(tmp_path: Path, settings) -> None:
    settings.IMPORT_MAX_ROWS = 5
    path = tmp_path / "six.json"
    path.write_text(json.dumps([mmau_row(n) for n in range(6)]))
    with pytest.raises(CommandError, match=r"more than 5 rows.*IMPORT_MAX_ROWS"):
        _import_mmau(path, tmp_path)
    assert not Question.objects.exists() and not Clip.objects.exists()
    assert not Dataset.objects.exists() and not ImportRun.objects.exists()  # refused before anything is made


def test_a_file_at_the_row_cap_imports(tmp_path: Path, settings) -> None:
    settings.IMPORT_MAX_ROWS = 5
    path = tmp_path / "five.json"
    path.write_text(json.dumps([mmau_row(n) for n in range(5)]))
    out, _ = _import_mmau(path, tmp_path)
    assert "5 created" in out and Question.objects.count() == 5


def test_a_truncated_file_imports_nothing(tmp_path: Path) -> None:
    """Streaming must not turn a cut-off file into a half import: the whole file is checked before any row lands."""
    text = json.dumps([mmau_row(n) for n in range(50)])
    path = tmp_path / "cut.json"
    path.write_text(text[: len(text) * 3 // 4])
    with pytest.raises(CommandError, match=r"invalid JSON at line 1 column \d+"):
        _import_mmau(path, tmp_path)
    assert not Question.objects.exists()


def test_a_file_the_command_cannot_import_leaves_no_dataset(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text(json.dumps([mmau_row(n) for n in range(5)])[:-1])
    with pytest.raises(CommandError, match=r"invalid JSON at line 1 column \d+: Expecting ',' delimiter — expected"):
        _import_mmau(path, tmp_path)
    assert not Dataset.objects.exists()
