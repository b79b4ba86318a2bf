"""A trained adapter as one zip download: the run's own checkpoint folder and the run's config, streamed.

Only the folder the run recorded (`checkpoint_path`, relative to the storage root) is read: it must resolve inside the
root (no `..`, no absolute path, not the root itself), and symlinks inside it are skipped, so a download can never
reach another run's files or anything outside the storage root. The zip is written as it is sent: an adapter with its
processor files can be hundreds of MB, and nothing is staged on disk or held whole in memory.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

from webapp.core import storage
from webapp.training.models import TrainingRun

CHUNK = 1 << 20
STORED_SUFFIXES = {".safetensors", ".bin", ".pt", ".pth"}  # weights hardly compress: do not spend CPU on them
RUN_FILE = "sightsound-run.json"


def adapter_folder(run: TrainingRun) -> Path | None:
    """The run's checkpoint folder when it is a real folder strictly inside the storage root, else None."""
    if run.stage == TrainingRun.Stage.EVAL or not run.checkpoint_path:
        return None
    try:
        folder = storage.resolve(run.checkpoint_path)
    except storage.UnsafePath:
        return None
    if folder == storage.root().resolve() or not folder.is_dir():
        return None
    return folder


def _files(folder: Path) -> Iterator[tuple[Path, str]]:
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not (here / d).is_symlink())
        for name in sorted(filenames):
            path = here / name
            if not path.is_symlink() and path.is_file():
                yield path, path.relative_to(folder).as_posix()


def run_description(run: TrainingRun) -> dict[str, object]:
    """What the adapter is: enough to load it on its base model and to trace how it was trained."""
    return {
        "run": run.pk,
        "stage": run.stage,
        "name": run.name,
        "base_model": run.base_model,
        "parent_run": run.parent_id,
        "snapshot": run.snapshot_id,
        "recipe": run.recipe,
        "config": run.config,
        "environment": run.environment,
        "checkpoint_path": run.checkpoint_path,
    }


class _Sink(io.RawIOBase):
    """An unseekable stream that zipfile writes into and the response drains (zipfile then uses data descriptors)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data = b"".join(self.chunks)
        self.chunks.clear()
        return data


def zip_stream(run: TrainingRun, folder: Path) -> Iterator[bytes]:
    """The zip, chunk by chunk: `adapter/…` (the folder's files) and `sightsound-run.json`."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(RUN_FILE, json.dumps(run_description(run), indent=2, default=str))
        yield sink.take()
        for path, name in _files(folder):
            info = zipfile.ZipInfo.from_file(path, f"adapter/{name}")
            info.compress_type = zipfile.ZIP_STORED if path.suffix in STORED_SUFFIXES else zipfile.ZIP_DEFLATED
            with path.open("rb") as src, archive.open(info, "w", force_zip64=True) as dest:
                while block := src.read(CHUNK):
                    dest.write(block)
                    yield sink.take()
            yield sink.take()
    yield sink.take()
