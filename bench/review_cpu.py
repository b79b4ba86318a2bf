"""Server CPU per review request (issue 15 item 3): next item, item page and decision, in one process, no HTTP.

One PostgreSQL database of `--questions` questions (8 chains each, filled by bench.review_load's populate, kept
between runs as `sightsound_reviewcpu_<n>`) is served by the production WSGI handler called in-process: a curator
logs in, then loops next → item page → accept, as bench.review_load's curators do, and each request's
`time.process_time()` is taken around the handler call and the reading of its body. With no client, network or
other worker in the process, that is the server's own CPU for the request (gunicorn's sync worker adds its HTTP
parsing). `--profile` prints a cProfile top list per endpoint instead of timings.

`--code DIR1,DIR2` measures each checkout in turn (alternating, `--repeats` times, against the same database) so
a change is compared with main on the same machine in the same minutes: a shared box's load moves both alike.

`--database NAME` measures against an existing database instead, e.g. a copy of `sightsound_rehearsal_500k`
(bench/rehearsal_db.py: its users are review_load's), to compare sizes; the run decides chains in it.

    python -m bench.review_cpu --pg postgres://postgres@127.0.0.1:5432 [--questions 3000 | --database NAME]
        [--rounds 200] [--code /work/main,.] [--repeats 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import io
import json
import logging
import os
import pstats
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
KINDS = ("next", "item", "decide")
logger = logging.getLogger("bench.review_cpu")


class InProcessClient:
    """Calls a WSGI app as gunicorn would (environ in, status, headers and body out), keeping cookies."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app, self.cookies = app, {}  # type: ignore[var-annotated]

    def request(self, method: str, url: str, data: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        path, _, query = url.partition("?")
        body = urllib.parse.urlencode(data).encode() if data is not None else b""
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method, "PATH_INFO": urllib.parse.unquote(path), "QUERY_STRING": query,
            "SCRIPT_NAME": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1:8000", "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "wsgi.version": (1, 0),
            "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
            "CONTENT_LENGTH": str(len(body)),
        }
        if data is not None:
            environ["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
        if self.cookies:
            environ["HTTP_COOKIE"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for name, value in (headers or {}).items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        seen: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            seen["status"], seen["headers"] = int(status.split()[0]), response_headers

        result = self.app(environ, start_response)
        try:
            payload = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()  # request_finished: what gunicorn does after sending
        found: dict[str, str] = {}
        for name, value in seen["headers"]:
            if name.lower() == "set-cookie":
                for key, morsel in SimpleCookie(value).items():
                    self.cookies[key] = morsel.value
            found[name.lower()] = value
        return seen["status"], found, payload.decode("utf-8", "replace")


def measure(rounds: int, profile: bool) -> dict[str, Any]:
    """Runs in a process whose DATABASE_URL and PYTHONPATH name the database and the checkout to measure."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    django.setup()
    from django.core.wsgi import get_wsgi_application

    # This checkout's pattern, whichever checkout is measured (an older one may not find the selected card).
    spec = importlib.util.spec_from_file_location("bench_review_load", Path(__file__).with_name("review_load.py"))
    assert spec is not None and spec.loader is not None
    review_load = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(review_load)

    client = InProcessClient(get_wsgi_application())
    client.request("GET", "/login/")
    status, _, _ = client.request("POST", "/login/", {"username": "cur0", "password": "bench-pw",
                                                     "csrfmiddlewaretoken": client.cookies["csrftoken"]},
                                  {"Referer": "http://127.0.0.1:8000/login/"})
    assert status == 302, f"login failed: {status}"
    cpu: dict[str, list[float]] = {k: [] for k in KINDS}
    profiles = {k: cProfile.Profile(time.process_time) for k in KINDS}  # CPU, not waits on PostgreSQL

    def timed(kind: str, *args: Any, **kwargs: Any) -> tuple[int, dict[str, str], str]:
        profiler = profiles[kind] if profile and warm else None
        t0 = time.process_time()
        if profiler is not None:
            profiler.enable()
        reply = client.request(*args, **kwargs)
        if profiler is not None:
            profiler.disable()
        if warm:
            cpu[kind].append((time.process_time() - t0) * 1000)
        return reply

    for i in range(rounds + 5):
        warm = i >= 5  # the first rounds fill template, URL and connection caches, as review_load's warm-up does
        status, headers, _ = timed("next", "GET", "/review/next/")
        assert status == 302, f"next: {status}"
        status, _, page = timed("item", "GET", headers["location"])
        found = review_load._DECIDE.search(page)
        assert status == 200 and found, f"item page {status} without a pending chain"
        status, _, _ = timed("decide", "POST", found[2], {"action": "accept", "version": found[3],
                                                          "csrfmiddlewaretoken": client.cookies["csrftoken"]},
                             {"Referer": "http://127.0.0.1:8000" + headers["location"]})
        assert status == 302, f"decide: {status}"
    result: dict[str, Any] = {k: {"mean": statistics.fmean(v), "median": statistics.median(v), "n": len(v)}
                              for k, v in cpu.items()}
    if profile:
        for kind, profiler in profiles.items():
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(60)
            stats.sort_stats("tottime").print_stats(30)
            stats.sort_stats("cumulative").print_stats("/webapp/", 40)  # the app's own functions
            result[kind]["profile"] = out.getvalue()
    return result


def ensure_database(pg: str, n: int) -> str:
    """`sightsound_reviewcpu_<n>`, built (migrated, filled, vacuumed) when missing."""
    name = f"sightsound_reviewcpu_{n}"
    url = f"{pg}/{name}"
    exists = subprocess.run(["psql", pg + "/postgres", "-qAtc", f"SELECT 1 FROM pg_database WHERE datname='{name}'"],
                            capture_output=True, text=True, check=True).stdout.strip()
    if exists:
        return url
    subprocess.run(["psql", pg + "/postgres", "-qc", f"CREATE DATABASE {name}"], check=True)
    env = _env(url, ROOT)
    subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run([PY, "-m", "bench.review_load", "--populate", str(n)], cwd=ROOT, env=env, check=True)
    subprocess.run(["psql", url, "-qc", "VACUUM ANALYZE", "-c", "CHECKPOINT"], check=True)
    return url


def _env(url: str, code: Path) -> dict[str, str]:
    """As served (bench.review_load's), with Redis reachable: every decision counts itself there."""
    return {"REDIS_URL": "redis://127.0.0.1:6379/14", **os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench-only",
            "DEBUG": "0", "SECURE_SSL_REDIRECT": "0", "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0",
            "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "webapp.settings", "PYTHONPATH": str(code)}


def run_checkout(code: Path, url: str, rounds: int, profile: bool) -> dict[str, Any]:
    """One measurement of the checkout at `code` (its webapp, templates and settings) in a fresh process."""
    # Run as a file, not `-m`: the baseline checkout may not have this module; its `bench.review_load` is used.
    launcher = "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    out = subprocess.run([PY, "-c", launcher, str(Path(__file__).resolve()), "--measure", str(rounds),
                          *(["--profile"] * profile)],
                         cwd=code, env=_env(url, code), check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.splitlines()[-1])


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="server URL, no database")
    parser.add_argument("--questions", type=int, default=3000)
    parser.add_argument("--database", help="measure against this existing database (a copy of a rehearsal one: "
                                           "it is written to) instead of building sightsound_reviewcpu_<n>")
    parser.add_argument("--rounds", type=int, default=200, help="next → item → accept rounds per measurement")
    parser.add_argument("--code", default=".", help="checkouts to compare, comma-separated (the first is the baseline)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating measurements of each checkout")
    parser.add_argument("--profile", action="store_true", help="print a cProfile top list per endpoint")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.profile)))  # noqa: T201 - read by the parent process
        return 0
    url = f"{args.pg}/{args.database}" if args.database else ensure_database(args.pg, args.questions)
    codes = [Path(c).resolve() for c in args.code.split(",")]
    runs: dict[Path, list[dict[str, Any]]] = {c: [] for c in codes}
    for repeat in range(args.repeats):
        for code in codes:
            result = run_checkout(code, url, args.rounds, args.profile)
            runs[code].append(result)
            logger.info("%s #%d: %s", code, repeat + 1,
                        ", ".join(f"{k} {result[k]['mean']:.2f} ms" for k in KINDS))
            if args.profile:
                for kind in KINDS:
                    print(f"--- {code} {kind}\n{result[kind]['profile']}")  # noqa: T201 - the requested list
    base = runs[codes[0]]
    for code in codes:
        line = []
        for kind in KINDS:
            mean = statistics.median(r[kind]["mean"] for r in runs[code])
            ratio = mean / statistics.median(r[kind]["mean"] for r in base)
            line.append(f"{kind} {mean:.2f} ms ({ratio:.2f}x)")
        print(f"{code}: CPU per request, median of {args.repeats} means of {args.rounds}: " + ", ".join(line))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
