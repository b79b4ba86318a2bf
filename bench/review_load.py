"""Review under load: 50 curators against gunicorn (3 workers) on PostgreSQL, at 5k and 50k questions (K=8).

For each size a fresh database is migrated and filled (questions, 8 chains each, one verdict per chain, curators),
gunicorn serves the app as in production, and simulated curators loop next item → item page → accept with a think
time, bounded by --duration and --max-decisions. A thin WSGI wrapper (bench/review_wsgi.py) reports per request
the database queries and the worker's CPU time in response headers, so the numbers come from the server.
Afterwards every decision the clients saw succeed is counted in the database: none may be lost or duplicated.

    python -m bench.review_load --pg postgres://postgres@127.0.0.1:5432 [--sizes 5000,50000] [--curators 50]
        [--duration 60] [--think 2] [--max-decisions 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
CHAINS_PER_QUESTION = 8
TARGET_P95_MS = 150.0
logger = logging.getLogger("bench.review_load")
_DECIDE = re.compile(r'<article class="chain review-chain decision-pending" id="chain-(\d+)".*?'
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


async def _timed(client: httpx.AsyncClient, stats: Stats, kind: str, method: str, url: str,
                 **kwargs: object) -> httpx.Response:
    t0 = time.perf_counter()
    response = await client.request(method, url, **kwargs)
    ms = (time.perf_counter() - t0) * 1000
    stats.samples.append(Sample(kind, ms, int(response.headers.get("x-bench-queries", -1)),
                                float(response.headers.get("x-bench-cpu-ms", -1))))
    return response


async def curator(base: str, username: str, stats: Stats, deadline: float, think: float, budget: list[int]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        page = await client.get("/login/")
        token = client.cookies.get("csrftoken")
        r = await client.post("/login/", data={"username": username, "password": "bench-pw",
                                               "csrfmiddlewaretoken": token}, headers={"Referer": f"{base}/login/"})
        if r.status_code != 302:
            stats.errors.append(f"{username}: login {r.status_code} {page.status_code}")
            return
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


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else float("nan")


def _psql(pg: str, sql: str) -> str:
    return subprocess.run(["psql", pg + "/postgres", "-v", "ON_ERROR_STOP=1", "-qAtc", sql], check=True,
                          capture_output=True, text=True).stdout.strip()


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
    logger.info("%d questions populated in %.0f s", n, time.perf_counter() - t0)
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
        budget = [args.max_decisions]
        deadline = time.monotonic() + args.duration

        async def main() -> None:
            await asyncio.gather(*(curator(f"http://127.0.0.1:{port}", f"cur{i}", stats, deadline, args.think,
                                           budget) for i in range(args.curators)))

        asyncio.run(main())
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    counts = subprocess.run(
        ["psql", f"{args.pg}/{name}", "-qAtc",
         "SELECT (SELECT count(*) FROM curation_review), (SELECT coalesce(sum(version),0) FROM curation_chain),"
         " (SELECT count(*) FROM (SELECT chain_id, chain_version FROM curation_review GROUP BY 1,2"
         " HAVING count(*) > 1) d)"], capture_output=True, text=True, check=True).stdout.strip().split("|")
    reviews, versions, dup = (int(x) for x in counts)
    result: dict[str, object] = {"questions": n, "chains": n * CHAINS_PER_QUESTION, "decisions_ok": stats.decisions_ok,
                                 "reviews_in_db": reviews, "version_sum": versions, "duplicates": dup,
                                 "errors": stats.errors[:5], "n_errors": len(stats.errors)}
    for kind in ("next", "item", "decide"):
        rows = [s for s in stats.samples if s.kind == kind]
        result[kind] = {
            "n": len(rows), "p50_ms": round(_pct([s.ms for s in rows], 0.5), 1),
            "p95_ms": round(_pct([s.ms for s in rows], 0.95), 1),
            "cpu_ms_mean": round(statistics.fmean(s.cpu_ms for s in rows), 1) if rows else None,
            "queries": sorted({s.queries for s in rows}),
        }
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
    sizes = [[tuple(r[k]["queries"]) for k in ("next", "item", "decide")] for r in results]  # type: ignore[index]
    if len(results) > 1 and any(s != sizes[0] for s in sizes):
        logger.warning("query counts differ between sizes: %s", sizes)
        ok = False
    print("PASS" if ok else "FAIL")  # noqa: T201 - the verdict line of a CLI benchmark
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
