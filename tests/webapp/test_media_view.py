"""Media is served behind the role check, with HTTP Range so browsers can seek."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

PAYLOAD = bytes(range(256)) * 40  # 10240 bytes


@pytest.fixture
def stored(media_root: Path) -> str:
    path = media_root / "media" / "ds" / "clip.mp4"
    path.parent.mkdir(parents=True)
    path.write_bytes(PAYLOAD)
    return "media/ds/clip.mp4"


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_it_serves_the_whole_file_and_advertises_ranges(curator_client: Client, stored: str) -> None:
    r = curator_client.get(f"/files/{stored}")
    assert r.status_code == 200 and _body(r) == PAYLOAD
    assert r["Accept-Ranges"] == "bytes" and r["Content-Type"] == "video/mp4"
    assert r["Content-Length"] == str(len(PAYLOAD))


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-99", 0, 99), ("bytes=100-", 100, 10239), ("bytes=-50", 10190, 10239),
     ("bytes=10000-99999", 10000, 10239)],
)
def test_it_answers_a_range_with_206(curator_client: Client, stored: str, header: str, start: int, end: int) -> None:
    r = curator_client.get(f"/files/{stored}", HTTP_RANGE=header)
    assert r.status_code == 206
    assert r["Content-Range"] == f"bytes {start}-{end}/{len(PAYLOAD)}"
    assert _body(r) == PAYLOAD[start : end + 1]
    assert r["Content-Length"] == str(end - start + 1)


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=99999-100000", "bytes=-0"])
def test_it_answers_an_unsatisfiable_range_with_416(curator_client: Client, stored: str, header: str) -> None:
    r = curator_client.get(f"/files/{stored}", HTTP_RANGE=header)
    assert r.status_code == 416
    assert r["Content-Range"] == f"bytes */{len(PAYLOAD)}"


def test_it_ignores_a_malformed_range(curator_client: Client, stored: str) -> None:
    r = curator_client.get(f"/files/{stored}", HTTP_RANGE="pages=1-2")
    assert r.status_code == 200 and _body(r) == PAYLOAD


def test_it_serves_the_full_file_when_if_range_does_not_match(curator_client: Client, stored: str) -> None:
    r = curator_client.get(f"/files/{stored}", HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"stale"')
    assert r.status_code == 200


@pytest.mark.parametrize(
    "path",
    ["media/../../etc/passwd", "media/%2e%2e/%2e%2e/etc/passwd", "derived/../uploads/imports/1.json",
     "uploads/imports/1.json", "media/ds/missing.mp4", "/etc/passwd"],
)
def test_it_never_serves_outside_the_media_folders(curator_client: Client, stored: str, media_root: Path,
                                                    path: str) -> None:
    (media_root / "uploads" / "imports").mkdir(parents=True)
    (media_root / "uploads" / "imports" / "1.json").write_text("secret")
    r = curator_client.get(f"/files/{path}")
    assert r.status_code == 404


def test_it_refuses_a_symlink_that_points_outside_the_root(curator_client: Client, media_root: Path,
                                                          tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    link = media_root / "media" / "link.mp4"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    assert curator_client.get("/files/media/link.mp4").status_code == 404


def test_it_requires_login_and_a_role(client: Client, nobody_client: Client, stored: str) -> None:
    r = client.get(f"/files/{stored}")
    assert r.status_code == 302 and "/login/" in r["Location"]
    assert nobody_client.get(f"/files/{stored}").status_code == 403


def test_it_rejects_writes(curator_client: Client, stored: str) -> None:
    assert curator_client.post(f"/files/{stored}").status_code == 405


POLYGLOT = b"RIFF\x24\x00\x00\x00WAVEfmt <html><script>alert(document.cookie)</script></html>"


@pytest.mark.parametrize(("name", "disposition"), [
    ("clip.mp4", "inline"), ("clip.wav", "inline"), ("thumb.jpg", "inline"),
    ("page.html", "attachment"), ("evil.svg", "attachment"), ("notes.txt", "attachment"), ("x.bin", "attachment"),
])
def test_it_shows_only_audio_video_and_images_inline_and_sandboxes_every_file(
    curator_client: Client, media_root: Path, name: str, disposition: str
) -> None:
    path = media_root / "media" / "ds" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(POLYGLOT)
    r = curator_client.get(f"/files/media/ds/{name}")
    assert r.status_code == 200 and r["Content-Disposition"].startswith(disposition)
    assert "sandbox" in r["Content-Security-Policy"] and "default-src 'none'" in r["Content-Security-Policy"]
    assert r["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("header", ["bytes=" + "9" * 5000 + "-", "bytes=0-" + "9" * 5000, "bytes=-" + "9" * 5000])
def test_it_answers_absurd_range_numbers_without_an_error(curator_client: Client, stored: str, header: str) -> None:
    r = curator_client.get(f"/files/{stored}", HTTP_RANGE=header)
    assert r.status_code in {200, 206, 416}
    if r.status_code == 206:
        assert r["Content-Range"].endswith("/10240")


def test_it_sends_a_content_security_policy_with_every_page(curator_client: Client) -> None:
    policy = curator_client.get("/")["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "object-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
