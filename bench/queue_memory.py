"""What a full-size ingest costs Redis: bytes per queued clip job, and the time to queue them one call at a time
(as ingest did) against one pipeline per 1,000 (as `enqueue_clip_processing` does now).

Jobs are queued with the app's payload (JSON serializer, the clip job's name, ids, TTLs) on a scratch queue of the
Redis named by REDIS_URL (default redis://127.0.0.1:6379/0), measured by `INFO memory` before and after, then
deleted. Nothing runs them.

    .venv/bin/python -m bench.queue_memory [--jobs 20000]
"""

from __future__ import annotations

import argparse
import os
import time

from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

JOB = "webapp.catalog.jobs.process_clip_job"
TTLS = {"result_ttl": 600, "failure_ttl": 7 * 24 * 3600}


def used(redis: Redis) -> int:
    return int(redis.info("memory")["used_memory"])


def one_by_one(queue: Queue, ids: range) -> None:
    for clip_id in ids:
        queue.enqueue(JOB, clip_id, 1, job_id=f"process-clip-{clip_id}-a1", job_timeout=1800,
                      description=f"process clip {clip_id}", **TTLS)


def batched(queue: Queue, ids: range, size: int = 1000) -> None:
    for start in range(ids.start, ids.stop, size):
        queue.enqueue_many([Queue.prepare_data(JOB, (clip_id, 1), job_id=f"process-clip-{clip_id}-a1", timeout=1800,
                                               description=f"process clip {clip_id}", **TTLS)
                            for clip_id in range(start, min(start + size, ids.stop))])


def measure(redis: Redis, name: str, enqueue, n: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    queue = Queue(name, connection=redis, serializer=JSONSerializer)
    queue.empty()
    before = used(redis)
    started = time.perf_counter()
    enqueue(queue, range(1, n + 1))
    seconds = time.perf_counter() - started
    per_job = (used(redis) - before) / n
    queue.empty()
    return per_job, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=20_000)
    args = parser.parse_args()
    redis = Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    single_bytes, single_s = measure(redis, "bench-queue-memory-single", one_by_one, args.jobs)
    batch_bytes, batch_s = measure(redis, "bench-queue-memory-batched", batched, args.jobs)
    print(f"{args.jobs:,} clip jobs queued")
    print(f"  one call each:     {single_s:6.2f} s ({args.jobs / single_s:,.0f} jobs/s), {single_bytes:,.0f} B a job")
    print(f"  1,000 per pipeline: {batch_s:6.2f} s ({args.jobs / batch_s:,.0f} jobs/s), {batch_bytes:,.0f} B a job")
    print(f"  batched / one call each: {single_s / batch_s:.1f}x faster; AVQA's 57k clips: "
          f"{57_000 * batch_bytes / 2**20:,.0f} MiB queued, {57_000 / (args.jobs / batch_s):.1f} s to queue")


if __name__ == "__main__":
    main()
