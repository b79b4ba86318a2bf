"""The admin upload form: validated input, a background import job, row errors in the UI."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client

from tests.webapp.conftest import ANNOTATIONS
from webapp.catalog.models import Clip, Dataset, ImportRun, Question

pytestmark = pytest.mark.django_db(transaction=True)


def _upload(name: str = "avqa_bad_rows.json", data: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data if data is not None else (ANNOTATIONS / name).read_bytes(),
                              content_type="application/json")


def test_it_is_for_admins_only(curator_client: Client) -> None:
    assert curator_client.get("/imports/new/").status_code == 403
    assert curator_client.post("/imports/new/", {}).status_code == 403


def test_it_imports_an_upload_on_the_worker_and_shows_row_errors(admin_client: Client, real_videos: Path,
                                                                 run_worker) -> None:
    r = admin_client.post("/imports/new/", {
        "source_format": "avqa", "dataset": "uploaded", "split": "val", "annotations": _upload(),
        "media_dir": str(real_videos),
    })
    assert r.status_code == 302
    run = ImportRun.objects.get()
    assert run.status == "queued"
    run_worker("default")
    run.refresh_from_db()
    assert run.status == "succeeded" and run.error_count >= 6 and run.created_count >= 1
    assert set(Question.objects.values_list("split", flat=True)) == {"val"}
    assert Clip.objects.filter(status="ready").count() == Clip.objects.count()  # processing jobs ran too
    html = admin_client.get(r["Location"]).content.decode()
    assert "out of range" in html and "every 1s" not in html
    for error in run.errors:
        assert f'<td class="num">{error["row"]}</td>' in html


def test_it_refuses_media_outside_the_import_roots(admin_client: Client) -> None:
    r = admin_client.post("/imports/new/", {
        "source_format": "avqa", "dataset": "x", "split": "train", "annotations": _upload(), "media_dir": "/etc",
    })
    assert r.status_code == 400 and b"import root" in r.content
    assert not ImportRun.objects.exists()


def test_it_requires_media_or_explicit_permission_to_miss_it(admin_client: Client) -> None:
    r = admin_client.post("/imports/new/", {
        "source_format": "avqa", "dataset": "x", "split": "train", "annotations": _upload(),
        "allow_missing_media": "on",
    })
    assert r.status_code == 400 and b"AVQA clips carry their media" in r.content


def test_it_refuses_malformed_json_at_the_form_with_where_and_what_was_expected(admin_client: Client,
                                                                              real_videos: Path) -> None:
    r = admin_client.post("/imports/new/", {
        "source_format": "avqa", "dataset": "broken", "split": "train", "media_dir": str(real_videos),
        "annotations": _upload("avqa_malformed.json"),
    })
    html = r.content.decode()
    assert r.status_code == 400
    assert "avqa_malformed.json was not imported: invalid JSON at line 32 column 1: Expecting" in html
    assert "expected a" in html and "near:" in html and "Traceback" not in html
    assert not Dataset.objects.exists() and not ImportRun.objects.exists()  # nothing left behind to clean up


def test_it_reports_a_json_error_even_when_the_media_folder_is_missing(admin_client: Client) -> None:
    r = admin_client.post("/imports/new/", {
        "source_format": "avqa", "dataset": "broken", "split": "train", "annotations": _upload("avqa_malformed.json"),
    })
    html = r.content.decode()
    assert r.status_code == 400
    assert "Give the media directory" in html and "invalid JSON at line 32 column 1" in html


def test_it_leaves_no_empty_dataset_when_no_row_would_import(admin_client: Client, tmp_path: Path) -> None:
    wrong_folder = tmp_path / "not-the-videos"
    wrong_folder.mkdir()
    r = admin_client.post("/imports/new/", {
        "source_format": "avqa", "dataset": "x", "split": "train", "annotations": _upload(),
        "media_dir": str(wrong_folder),
    })
    html = r.content.decode()
    assert r.status_code == 400
    assert f"none of its 13 rows would import under {wrong_folder}, e.g. row 1 (id 1): media file not found" in html
    assert not Dataset.objects.exists() and not ImportRun.objects.exists()


def test_it_refuses_an_empty_list_without_making_a_dataset(admin_client: Client, real_videos: Path) -> None:
    r = admin_client.post("/imports/new/", {
        "source_format": "avqa", "dataset": "x", "split": "train", "annotations": _upload("empty.json", b"[]"),
        "media_dir": str(real_videos),
    })
    assert r.status_code == 400 and b"the file holds no rows" in r.content
    assert not Dataset.objects.exists()


def test_it_names_the_import_folder_and_creates_it_at_migrate(admin_client: Client, settings, tmp_path: Path) -> None:
    root = tmp_path / "var" / "media" / "incoming"
    settings.IMPORT_ROOTS = [root]
    assert str(root) in admin_client.get("/imports/new/").content.decode()
    call_command("migrate", verbosity=0)  # scripts/run.sh migrates at every start
    assert root.is_dir()
