"""Secrets the embedded setup generates (the secret key, the demo passwords) live in files only their owner reads.

`write_secret` creates the file with mode 0600 from the start (no window with the default umask), and keeps an
existing secret: a restart must not log everyone out or change a password people were told.

    python -m webapp.core.secret_files var/secret_key   # prints the secret, creating it if needed
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path


def write_secret(path: str | os.PathLike[str], nbytes: int = 50) -> tuple[str, bool]:
    """(secret, created): the secret stored at `path`, or a new random one written there with mode 0600."""
    target = Path(path)
    if target.exists():
        if target.stat().st_mode & 0o077:  # an older setup wrote it world-readable: close it now
            target.chmod(0o600)
        return target.read_text().strip(), False
    target.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value, True


if __name__ == "__main__":  # pragma: no cover - exercised through scripts/run.sh
    print(write_secret(sys.argv[1])[0])
