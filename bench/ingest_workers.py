"""Clip processing across RQ workers: clips/s with 1 worker vs 2, every clip processed exactly once (issue 15 item 2).

The real AVQA fixture clips under distinct names (symlinks to copies in a temporary storage root), N clip rows in a
PostgreSQL database of their own (`export_ingest`), queued as the import queues them (`enqueue_clip_processing`),
then drained by W real `manage.py rqworker --burst` processes, each pinned to one core (`taskset`: FFmpeg's
automatic threads follow the affinity) with OMP_NUM_THREADS=1. Throughput is N over the span from the first job's
start to the last job's end as RQ recorded them (worker start-up excluded): 2 workers on 2 cores should approach 2x.

A last run queues every clip's job twice (the copy under another job id, next to it in the queue, as a redelivered
or requeued job would be) for 2 workers: the clip's claim (`Clip.mark_processing`, a conditional UPDATE) must let
exactly one of the two process it; the other returns "superseded".

    python -m bench.ingest_workers [--clips 40] [--pg postgres://postgres@127.0.0.1:5432] [--redis-db 13]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg

from bench.rehearsal_db import PY, ROOT, server_env
from tests.real_fixtures import AVQA_VIDEO_DIR

logger = logging.getLogger("bench.ingest_workers")
DB = "export_ingest"


def _setup(n: int, slug: str, duplicate: bool) -> None:
    """(Child, Django configured) n pending clips pointing at the symlinks, queued on commit; `duplicate`: twice."""
    import django

    django.setup()
    import django_rq
    from django.db import transaction
    from rq import Queue

    from webapp.catalog.ingest import JOB, clip_job_id, enqueue_clip_processing
    from webapp.catalog.models import Clip, Dataset

    dataset = Dataset.objects.create(name=slug, slug=slug, source_format="avqa")
    clips = Clip.objects.bulk_create([Clip(dataset=dataset, name=f"c{i:05d}", kind="video",
                                           media_path=f"video/clip{i:05d}.mp4") for i in range(n)])
    ids = [c.pk for c in clips]
    if not duplicate:
        with transaction.atomic():
            enqueue_clip_processing(ids)
        return
    with transaction.atomic():
        enqueue_clip_processing(ids)  # attempt 1 of each clip, queued on commit
    queue = django_rq.get_queue("default")
    queue.empty()  # queued again below, each job beside its copy
    queue.enqueue_many([Queue.prepare_data(JOB, (pk, 1), job_id=f"{clip_job_id(pk, 1)}{suffix}")
                        for pk in ids for suffix in ("", "-copy")])


def _env(url: str, media: Path, redis: str) -> dict[str, str]:
    return {**server_env(url), "MEDIA_ROOT": str(media), "REDIS_URL": redis, "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "TORCH_NUM_THREADS": "1", "JOB_RESULT_TTL": "3600"}


def _run(url: str, media: Path, redis: str, n: int, workers: int, duplicate: bool = False) -> dict[str, Any]:
    import redis as redis_lib
    from rq import Queue
    from rq.job import Job
    from rq.registry import FailedJobRegistry, FinishedJobRegistry
    from rq.serializers import JSONSerializer

    conn = redis_lib.Redis.from_url(redis)
    conn.flushdb()  # this bench's own database number
    slug = f"iw-{workers}{'-dup' if duplicate else ''}-{int(time.time())}"
    env = _env(url, media, redis)
    subprocess.run([PY, "-m", "bench.ingest_workers", "--setup", str(n), slug, *(["--duplicate"] if duplicate else [])],
                   cwd=ROOT, env=env, check=True)
    cores = os.sched_getaffinity(0)
    log = (media / f"{slug}.log").open("w")
    procs = [subprocess.Popen(["taskset", "-c", str(sorted(cores)[w % len(cores)]), PY, "manage.py", "rqworker",
                               "default", "--burst"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
             for w in range(workers)]
    cpu0 = os.times()
    for p in procs:
        p.wait()
    cpu = (os.times().children_user + os.times().children_system) - (cpu0.children_user + cpu0.children_system)
    failed = FailedJobRegistry("default", connection=conn, serializer=JSONSerializer).get_job_ids()
    left = Queue("default", connection=conn, serializer=JSONSerializer).count
    if failed or left:
        log.close()
        logger.warning("%d jobs failed, %d left queued; worker log:\n%s", len(failed), left,
                       (media / f"{slug}.log").read_text()[-4000:])
    ids = FinishedJobRegistry("default", connection=conn, serializer=JSONSerializer).get_job_ids()
    jobs = [j for j in Job.fetch_many(ids, connection=conn, serializer=JSONSerializer) if j is not None]
    span = (max(j.ended_at for j in jobs) - min(j.started_at for j in jobs)).total_seconds()
    results = Counter(str(j.return_value()).split(":")[0] for j in jobs)
    ready_per_clip = Counter(j.args[0] for j in jobs if j.return_value() == "ready")
    with psycopg.connect(url) as db:
        states = dict(db.execute("SELECT c.status, count(*) FROM catalog_clip c JOIN catalog_dataset d "
                                 "ON d.id = c.dataset_id WHERE d.slug = %s GROUP BY 1", (slug,)).fetchall())
    return {"workers": workers, "duplicate": duplicate, "jobs": len(jobs), "failed": len(failed), "left": left,
            "span": span, "clips_per_s": n / span,
            "cpu": cpu, "results": dict(results), "clip_states": states,
            "processed_once": len(ready_per_clip) == n and set(ready_per_clip.values()) == {1}}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="server URL, no database")
    parser.add_argument("--redis-db", type=int, default=13, help="a Redis database number no one else uses")
    parser.add_argument("--setup", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--duplicate", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.setup:
        _setup(int(args.setup[0]), args.setup[1], args.duplicate)
        return 0
    url, redis = f"{args.pg}/{DB}", f"redis://127.0.0.1:6379/{args.redis_db}"
    with psycopg.connect(args.pg + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')
    subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=server_env(url), check=True)
    videos = sorted(AVQA_VIDEO_DIR.glob("*.mp4"))
    with tempfile.TemporaryDirectory(prefix="bench-ingest-workers-") as tmp:
        media = Path(tmp)
        (media / "video").mkdir()
        (media / "fixtures").mkdir()
        for v in videos:  # copied in: the storage root refuses a symlink that points outside it
            shutil.copyfile(v, media / "fixtures" / v.name)
        for i in range(args.clips):  # distinct names: each clip row its own file, its own derived folder
            (media / "video" / f"clip{i:05d}.mp4").symlink_to(f"../fixtures/{videos[i % len(videos)].name}")
        runs = [_run(url, media, redis, args.clips, 1), _run(url, media, redis, args.clips, 2),
                _run(url, media, redis, args.clips, 2, duplicate=True)]
    for r in runs:
        sys.stdout.write(json.dumps(r) + "\n")
    one, two, race = runs
    load = os.getloadavg()
    sys.stdout.write(
        f"SUMMARY {args.clips} clips: 1 worker {one['clips_per_s']:.2f} clips/s, 2 workers {two['clips_per_s']:.2f} "
        f"clips/s ({two['clips_per_s'] / one['clips_per_s']:.2f}x; {len(os.sched_getaffinity(0))} cores); every clip "
        f"processed once: {one['processed_once'] and two['processed_once']}; each job queued twice, 2 workers: "
        f"processed once {race['processed_once']} ({race['results']}); load {load[0]:.1f} {load[1]:.1f} (shared)\n")
    return 0 if all(r["processed_once"] for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
