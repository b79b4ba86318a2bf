"""Review under load: 50 curators against gunicorn (3 workers) on PostgreSQL, at 5k and 50k questions (K=8).

For each size a fresh database is migrated and filled (questions, 8 chains each, one verdict per chain, curators),
gunicorn serves the app as in production, and simulated curators loop next item → item page → accept with a think
time, bounded by --duration and --max-decisions. Outside the measured window, stated so: the database is
VACUUM ANALYZEd after loading (as a served one is), every curator logs in (password hashing) and makes one untimed
next → item round (warm caches), and their first requests are spread over one think time (the first of a
curator's timed rounds starts the clock). A thin WSGI wrapper (bench/review_wsgi.py) reports per request the
database queries and the worker's CPU time in response headers, so the numbers come from the server; the client's
own CPU per request is reported too, as it shares the machine.
Afterwards every decision the clients saw succeed is counted in the database: none may be lost or duplicated.

    python -m bench.review_load --pg postgres://postgres@127.0.0.1:5432 [--sizes 5000,50000] [--curators 50]
        [--duration 60] [--think 2] [--max-decisions 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
CHAINS_PER_QUESTION = 8
TARGET_P95_MS = 150.0
logger = logging.getLogger("bench.review_load")
# The selected card carries " selected": without it, the last pending chain of a question (always the selected one)
# was never found, and its curator stalled on that question.
_DECIDE = re.compile(r'<article class="chain review-chain decision-pending(?: selected)?" id="chain-(\d+)".*?'
                     r'action="(/review/chains/\d+/decide/)".*?name="version" value="(\d+)"', re.DOTALL)


def populate(n_questions: int) -> None:
    """Runs in a subprocess with DATABASE_URL set: fill one database."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    django.setup()
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.db import transaction

    from webapp.catalog.models import Clip, Dataset, Question
    from webapp.core.roles import ensure_groups
    from webapp.curation.models import Chain, GenerationRun, Verdict

    curators, _ = ensure_groups()
    password = make_password("bench-pw")
    users = User.objects.bulk_create([User(username=f"cur{i}", password=password) for i in range(64)])
    curators.user_set.add(*users)
    choices = ["a dog", "a car", "a bell", "rain"]
    batch = 2000
    with transaction.atomic():
        ds = Dataset.objects.create(name="bench", slug="bench", source_format="avqa")
        run = GenerationRun.objects.create(dataset=ds, kind="teacher")
    for start in range(0, n_questions, batch):
        with transaction.atomic():
            clips = Clip.objects.bulk_create([
                Clip(dataset=ds, name=f"clip{i}", kind="video", media_path=f"m/{i}.mp4", status="ready",
                     duration=10.0, peaks_path=f"p/{i}.json", audio_path=f"a/{i}.wav")
                for i in range(start, min(start + batch, n_questions))])
            questions = Question.objects.bulk_create([
                Question(dataset=ds, clip=c, external_id=c.name, text=f"What is making the sound in {c.name}?",
                         choices=choices, answer_index=i % 4, answer_text=choices[i % 4], split="train",
                         question_type="Which", question_relation="Both", content_hash=c.name)
                for i, c in enumerate(clips)])
            chains = Chain.objects.bulk_create([
                Chain(run=run, question=q, sample_index=k, parsed_answer=k % 4, is_correct=k % 4 == q.answer_index,
                      text=f"<think>I hear an engine rev at 2 s and a dog bark ({k}).</think><answer>B</answer>")
                for q in questions for k in range(CHAINS_PER_QUESTION)])
            Verdict.objects.bulk_create([
                Verdict(chain=c, validator="lalm", validator_version="v1", label="pass" if c.pk % 3 else "fail",
                        score=0.8, claims=[{"text": "an engine rev", "verdict": "supported", "char_start": 17,
                                            "char_end": 27, "spans": [[1.5, 3.0]]}])
                for c in chains])


@dataclass
class Sample:
    kind: str
    ms: float
    queries: int
    cpu_ms: float


@dataclass
class Stats:
    samples: list[Sample] = field(default_factory=list)
    decisions_ok: int = 0
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0


@dataclass
class Reply:
    status_code: int
    headers: dict[str, str]
    text: str


class LiteClient:
    """A minimal HTTP/1.1 client (one connection per request, cookies kept), for the load generator only.

    It shares the two cores with the server: httpx spent ~4 ms CPU per request here, about a fifth of the
    server's own, which showed up as server latency. This one parses a status line, headers and a body.
    """

    def __init__(self, base: str) -> None:
        parsed = urllib.parse.urlsplit(base)
        self.base, self.host, self.port = base, parsed.hostname or "127.0.0.1", parsed.port or 80
        self.cookies: dict[str, str] = {}

    async def request(self, method: str, url: str, data: dict[str, str] | None = None,
                      headers: dict[str, str] | None = None) -> Reply:
        body = urllib.parse.urlencode(data).encode() if data is not None else b""
        lines = [f"{method} {url} HTTP/1.1", f"Host: {self.host}:{self.port}", "Connection: close",
                 *(f"{k}: {v}" for k, v in (headers or {}).items())]
        if self.cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if data is not None:
            lines += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            raw = await asyncio.wait_for(reader.read(), timeout=30)
        finally:
            writer.close()
        head, _, payload = raw.partition(b"\r\n\r\n")
        status, *header_lines = head.decode("latin-1").split("\r\n")
        found: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "set-cookie":
                cookie, _, _ = value.partition(";")
                key, _, val = cookie.partition("=")
                self.cookies[key.strip()] = val.strip()
            found[name] = value
        return Reply(int(status.split()[1]), found, payload.decode("utf-8", "replace"))

    async def get(self, url: str) -> Reply:
        return await self.request("GET", url)

    async def post(self, url: str, data: dict[str, str], headers: dict[str, str] | None = None) -> Reply:
        return await self.request("POST", url, data=data, headers=headers)


async def _timed(client: LiteClient, stats: Stats, kind: str, method: str, url: str,
                 **kwargs: Any) -> Reply:
    t0 = time.perf_counter()
    response = await client.request(method, url, **kwargs)
    ms = (time.perf_counter() - t0) * 1000
    stats.samples.append(Sample(kind, ms, int(response.headers.get("x-bench-queries", -1)),
                                float(response.headers.get("x-bench-cpu-ms", -1))))
    return response


async def login(client: LiteClient, base: str, username: str) -> bool:
    page = await client.get("/login/")
    token = client.cookies.get("csrftoken")
    r = await client.post("/login/", data={"username": username, "password": "bench-pw",
                                           "csrfmiddlewaretoken": token}, headers={"Referer": f"{base}/login/"})
    return page.status_code == 200 and r.status_code == 302


async def curator(client: LiteClient, base: str, stats: Stats, start: float, deadline: float, think: float,
                  budget: list[int]) -> None:
    """One curator's loop, from `start` (staggered within one think time, as people do not act in lockstep)."""
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    token = client.cookies.get("csrftoken")
    while time.monotonic() < deadline and budget[0] > 0:
        r = await _timed(client, stats, "next", "GET", "/review/next/")
        if r.status_code != 302:
            stats.errors.append(f"next {r.status_code}")
            return
        item = await _timed(client, stats, "item", "GET", r.headers["location"])
        found = _DECIDE.search(item.text)
        if found is None:
            stats.errors.append("item page without a pending chain")
            continue
        budget[0] -= 1
        r = await _timed(client, stats, "decide", "POST", found[2],
                         data={"action": "accept", "version": found[3], "csrfmiddlewaretoken": token},
                         headers={"Referer": base + r.headers["location"]})
        if r.status_code == 302:
            stats.decisions_ok += 1
        else:
            stats.errors.append(f"decide {r.status_code}")
        await asyncio.sleep(think)


async def drive(args: argparse.Namespace, base: str, stats: Stats) -> float:
    """Log every curator in and warm up (one untimed next → item each) before the clock starts; returns the
    client's CPU seconds spent in the measured window. Logins hash a password (~100 ms CPU each by design):
    50 of them at t=0 would measure PBKDF2, not review."""
    clients = [LiteClient(base) for _ in range(args.curators)]
    gate = asyncio.Semaphore(3)  # as many as gunicorn's workers: 50 at once queue past the client's timeout

    async def gated_login(client: LiteClient, username: str) -> bool:
        async with gate:
            return await login(client, base, username)

    ok = await asyncio.gather(*(gated_login(c, f"cur{i}") for i, c in enumerate(clients)))
    stats.errors.extend(f"cur{i}: login failed" for i, good in enumerate(ok) if not good)
    for c in clients:  # sequential: fills every worker's template cache and connection without a burst
        r = await c.get("/review/next/")
        if r.status_code == 302:
            await c.get(r.headers["location"])
    rng = random.Random(0)
    t0, cpu0 = time.monotonic(), time.process_time()
    deadline = t0 + args.duration
    budget = [args.max_decisions]
    await asyncio.gather(*(curator(c, base, stats, t0 + rng.uniform(0, args.think), deadline, args.think, budget)
                           for c, good in zip(clients, ok, strict=True) if good))
    stats.wall_s = time.monotonic() - t0
    return time.process_time() - cpu0


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def _psql(pg: str, sql: str) -> str:
    return subprocess.run(["psql", pg + "/postgres", "-v", "ON_ERROR_STOP=1", "-qAtc", sql], check=True,
                          capture_output=True, text=True).stdout.strip()


def _counts(url: str) -> tuple[int, int, int]:
    """Reviews, the sum of chain versions (one per review) and reviews written twice over one chain version."""
    counts = subprocess.run(
        ["psql", url, "-qAtc",
         "SELECT (SELECT count(*) FROM curation_review), (SELECT coalesce(sum(version),0) FROM curation_chain),"
         " (SELECT count(*) FROM (SELECT chain_id, chain_version FROM curation_review GROUP BY 1,2"
         " HAVING count(*) > 1) d)"], capture_output=True, text=True, check=True).stdout.strip().split("|")
    reviews, versions, dup = (int(x) for x in counts)
    return reviews, versions, dup


def measure(args: argparse.Namespace, url: str, env: dict[str, str]) -> dict[str, object]:
    """Serve the database at `url` with gunicorn (3 sync workers, `env`) and drive args.curators curators against it
    for args.duration seconds; the figures per endpoint, and every decision counted in the database afterwards.
    The database needs curators cur0 … cur<N-1> with password bench-pw and pending kept chains; reviews already
    in it are counted before and left out of the figures."""
    counts_before = _counts(url)
    port = 8765
    server = subprocess.Popen(
        [PY, "-m", "gunicorn", "bench.review_wsgi:application", "-w", "3", "-b", f"127.0.0.1:{port}",
         "--log-level", "warning"], cwd=ROOT, env=env, start_new_session=True)
    try:
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/login/").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        stats = Stats()
        client_cpu = asyncio.run(drive(args, f"http://127.0.0.1:{port}", stats))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    reviews, versions, dup = (after - before for after, before in zip(_counts(url), counts_before, strict=True))
    n_requests = len(stats.samples)
    result: dict[str, object] = {"decisions_ok": stats.decisions_ok,
                                 "reviews_in_db": reviews, "version_sum": versions, "duplicates": dup,
                                 "errors": stats.errors[:5], "n_errors": len(stats.errors),
                                 "decisions_per_s": round(stats.decisions_ok / stats.wall_s, 1) if stats.wall_s else 0,
                                 "client_cpu_ms_per_request": round(client_cpu * 1000 / max(1, n_requests), 1)}
    for kind in ("next", "item", "decide"):
        rows = [s for s in stats.samples if s.kind == kind]
        result[kind] = {
            "n": len(rows), "p50_ms": round(_pct([s.ms for s in rows], 0.5), 1),
            "p95_ms": round(_pct([s.ms for s in rows], 0.95), 1),
            "cpu_ms_mean": round(statistics.fmean(s.cpu_ms for s in rows), 1) if rows else None,
            "queries": dict(sorted(Counter(s.queries for s in rows).items())),  # count → requests
        }
    return result


def run_size(args: argparse.Namespace, n: int) -> dict[str, object]:
    name = f"sightsound_bench_{n}"
    _psql(args.pg, f"DROP DATABASE IF EXISTS {name}")
    _psql(args.pg, f"CREATE DATABASE {name}")
    env = {**os.environ, "DATABASE_URL": f"{args.pg}/{name}", "SECRET_KEY": "bench-only", "DEBUG": "0",
           "SECURE_SSL_REDIRECT": "0", "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0",
           "LOG_LEVEL": "WARNING", "DJANGO_SETTINGS_MODULE": "webapp.settings", "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run([PY, "-m", "bench.review_load", "--populate", str(n)], cwd=ROOT, env=env, check=True)
    # A served database is vacuumed and analysed; a freshly bulk-loaded one is not, and autovacuum would then
    # run (and set hint bits on 800k rows) inside the measured window, on the same two cores.
    # The CHECKPOINT writes the load's dirty pages now rather than in the middle of the measured window.
    subprocess.run(["psql", f"{args.pg}/{name}", "-qc", "VACUUM ANALYZE", "-c", "CHECKPOINT"], check=True)
    logger.info("%d questions populated in %.0f s", n, time.perf_counter() - t0)
    result = {"questions": n, "chains": n * CHAINS_PER_QUESTION, **measure(args, f"{args.pg}/{name}", env)}
    if not args.keep:
        _psql(args.pg, f"DROP DATABASE IF EXISTS {name}")
    return result


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="server URL, no database")
    parser.add_argument("--sizes", default="5000,50000")
    parser.add_argument("--curators", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--think", type=float, default=2.0)
    parser.add_argument("--max-decisions", type=int, default=5000)
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument("--populate", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.populate:
        populate(args.populate)
        return 0
    results = [run_size(args, int(n)) for n in args.sizes.split(",")]
    ok = True
    for r in results:
        logger.info("%s", r)
        lost = r["decisions_ok"] != r["reviews_in_db"] or r["reviews_in_db"] != r["version_sum"] or r["duplicates"]
        slow = any(r[k]["p95_ms"] > TARGET_P95_MS for k in ("next", "item", "decide"))  # type: ignore[index]
        ok = ok and not lost and not slow and not r["n_errors"]
    # Query counts per request must not grow with the table: every count that at least 1 % of a kind's requests
    # ran at the larger size must also occur at the smaller one. (A rare extra query is a lost race for a lease,
    # retried: timing, not size. Which common path a request takes, resume or claim, is the same at both sizes.)
    by_size = sorted(results, key=lambda r: r["questions"])  # type: ignore[arg-type,return-value]
    common = [{k: {q for q, n in r[k]["queries"].items() if n >= 0.01 * r[k]["n"]}  # type: ignore[index]
               for k in ("next", "item", "decide")} for r in by_size]
    for smaller, larger in itertools.pairwise(common):
        if any(larger[k] - smaller[k] for k in larger):
            logger.warning("query counts grow with size: %s", common)
            ok = False
    print("PASS" if ok else "FAIL")  # noqa: T201 - the verdict line of a CLI benchmark
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
