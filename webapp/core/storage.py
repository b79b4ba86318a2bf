"""The one storage root (MEDIA_ROOT): relative paths in the database, safe resolution on the way out.

Every path that reaches the file system from a request goes through `resolve`, which refuses anything
that escapes the root (`..`, absolute paths, symlinks pointing outside).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from django.conf import settings


class UnsafePath(ValueError):
    pass


def root() -> Path:
    return Path(settings.MEDIA_ROOT)


def resolve(relative: str) -> Path:
    if not relative or os.path.isabs(relative) or "\x00" in relative:
        raise UnsafePath(f"not a relative storage path: {relative!r}")
    base = root().resolve()
    path = (base / relative).resolve()
    if path != base and base not in path.parents:
        raise UnsafePath(f"path escapes the storage root: {relative!r}")
    return path


def relative(path: Path) -> str:
    return path.resolve().relative_to(root().resolve()).as_posix()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def store_copy(src: Path, relative_dest: str) -> Path:
    """Place a source file under the root: a hard link when possible (no extra disk), else a copy.

    The source is resolved first: `os.link` on Linux links a symlink itself, not its target, and a media folder of
    symlinks (a dataset shared between projects) would leave links under the root that point outside it."""
    dest = resolve(relative_dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    tmp.unlink(missing_ok=True)
    try:
        os.link(Path(src).resolve(), tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dest)
    return dest
