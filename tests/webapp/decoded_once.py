"""Each real clip decoded once per test session, for the tests whose subject is what happens after ingest.

The teacher, shard and attempt tests each import the 10 real AVQA clips with `--process-now`: 10–19 s of ffmpeg
per test, about 800 s of every CI run, to derive the same files again and again. Inside `decoded_once`, ingest
runs as always (claim, fencing, row update) but `pipeline.media.process_clip` answers from a session cache: the
first call for a file's content decodes it for real into the cache, and every call copies those files into the
clip's own folder. The ingest tests themselves (test_import_avqa, test_ingest_*) never use it.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from pipeline import media
from webapp.catalog import ingest


def _content_key(src: Path, kwargs: dict) -> str:
    digest = hashlib.sha256(src.read_bytes())
    digest.update(repr(sorted(kwargs.items())).encode())
    return digest.hexdigest()[:24]


class DecodeCache:
    """A session's decoded clips: files under `root`, the artifacts `process_clip` returned for them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.artifacts: dict[str, media.ClipArtifacts] = {}

    def process_clip(self, src, out_dir, **kwargs) -> media.ClipArtifacts:  # noqa: ANN001 - process_clip's own
        key = _content_key(Path(src), kwargs)
        decoded = self.root / key
        if key not in self.artifacts:
            shutil.rmtree(decoded, ignore_errors=True)
            self.artifacts[key] = media.process_clip(src, decoded, **kwargs)  # a MediaError propagates as ever
        shutil.copytree(decoded, out_dir, dirs_exist_ok=True)
        return self.artifacts[key]

    @contextmanager
    def active(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        """`ingest_clip` in this block derives each distinct clip file once per session."""
        with monkeypatch.context() as patch:
            patch.setattr(ingest, "process_clip", self.process_clip)
            yield
