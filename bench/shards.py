"""Sharded teacher runs: throughput of one run on 2 RQ worker processes against 1, measured in one bench run.

A teacher run on the tiny Qwen2.5-VL over the real AVQA sample (20 questions over 10 clips) is split into shards of
--shard questions (webapp/core/shards.py). For each worker count, a fresh run is launched as the web app launches it
and that many `manage.py rqworker gpu --burst` processes drain it; each is held to one core (OMP_NUM_THREADS=1,
MKL too, and its CPU affinity pinned to one core, a different one per worker where the machine has them). The
figure is questions per second from the run's start to its finish (the database's started_at / finished_at), with
the workers' CPU seconds (their rusage, work-horses included) and the overlap: the shards' summed run time over the
run's (1.0: one at a time; 2.0: two workers busy throughout), which holds even where a CPU-starved machine gives the
workers no more CPU together than one alone. Rounds alternate 1 and 2 workers so machine noise hits both alike; the
median is reported, with the ratio 2 workers / 1.

    .venv/bin/python -m bench.shards [--questions 20] [--shard 5] [--k 2] [--new-tokens 16] [--repeat 1]
                                     [--redis redis://127.0.0.1:6379/13]

Uses a temporary SQLite database and storage root, and the Redis database named (its queues are emptied first).
Prints the figures; asserts nothing (a loaded machine is slower, not wrong).
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT.parent / "shared" / "fixtures" / "real" / "avqa_vggsound" / "video"
ANNOTATIONS = ROOT / "tests" / "fixtures" / "annotations" / "avqa_real.json"


def _env(tmp: Path, redis: str, shard: int) -> dict[str, str]:
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings",
            "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}", "REDIS_URL": redis, "MEDIA_ROOT": str(tmp / "media"),
            "SECRET_KEY": "bench", "DEBUG": "1",
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "RUN_SHARD_QUESTIONS": str(shard), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _pin(core: int) -> Any:
    def pin() -> None:
        os.sched_setaffinity(0, {core})
    return pin


def _drain(n_workers: int, env: dict[str, str], log: Path) -> float:
    """Start `n_workers` burst workers, each pinned to its own core, logging to `log`; wait for all; their CPU
    seconds."""
    cores = sorted(os.sched_getaffinity(0))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with log.open("a") as out:
        procs = [subprocess.Popen([sys.executable, "manage.py", "rqworker", "gpu", "--burst"], cwd=ROOT, env=env,
                                  stdout=out, stderr=subprocess.STDOUT, preexec_fn=_pin(cores[i % len(cores)]))
                 for i in range(n_workers)]
    for p in procs:
        p.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _round(args: argparse.Namespace, n_workers: int, env: dict[str, str], dataset: Any, model: str) -> dict[str, Any]:
    from webapp.curation.models import GenerationRun
    from webapp.curation.runs import launch_generation

    run = launch_generation({"dataset": dataset, "model": model, "backend": "transformers",
                             "prompt_version": "teacher-v1", "k": args.k, "temperature": 1.0, "top_p": 0.95,
                             "max_new_tokens": args.new_tokens, "seed": 0, "majority_only": False,
                             "limit": args.questions}, None)
    log = Path(env["MEDIA_ROOT"]).parent / "workers.log"
    cpu = _drain(n_workers, env, log)
    run = GenerationRun.objects.get(pk=run.pk)
    if run.status != "succeeded":
        shards = list(run.shards.values_list("index", "status", "error"))
        raise SystemExit(f"run {run.pk} ended {run.status}: {run.error[-2000:]}\nshards: {shards}\n"
                         f"workers' log:\n{log.read_text()[-6000:]}")
    seconds = (run.finished_at - run.started_at).total_seconds()
    busy = sum((s.finished_at - s.started_at).total_seconds() for s in run.shards.all())
    return {"workers": n_workers, "shards": run.shards.count(), "questions": run.progress_total,
            "chains": run.chains.count(), "seconds": seconds, "q_per_s": run.progress_total / seconds, "cpu_s": cpu,
            "overlap": busy / seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--shard", type=int, default=5, help="RUN_SHARD_QUESTIONS")
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=1, help="rounds per worker count (alternating)")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        env = _env(tmp, args.redis, args.shard)
        os.environ.update(env)
        import django

        django.setup()
        import django_rq
        from django.core.management import call_command

        from pipeline import tiny
        from webapp.catalog.models import Dataset

        for queue in ("default", "gpu"):
            django_rq.get_queue(queue).empty()
        call_command("migrate", verbosity=0)
        call_command("import_avqa", str(ANNOTATIONS), videos=str(CLIPS), dataset="AVQA sample", process_now=True,
                     stdout=io.StringIO(), stderr=io.StringIO())
        model = str(tiny.build_model("tiny-qwen2_5-vl", tmp / "tiny-qwen2_5-vl"))
        dataset = Dataset.objects.get()
        load = os.getloadavg()[0]
        rows = [_round(args, n, env, dataset, model) for _ in range(args.repeat) for n in (1, 2)]
        print(f"{'workers':>7} {'shards':>6} {'questions':>9} {'chains':>6} {'seconds':>8} {'q/s':>6} {'cpu_s':>7} "
              f"{'overlap':>7}")
        for r in rows:
            print(f"{r['workers']:>7} {r['shards']:>6} {r['questions']:>9} {r['chains']:>6} {r['seconds']:>8.1f} "
                  f"{r['q_per_s']:>6.3f} {r['cpu_s']:>7.1f} {r['overlap']:>7.2f}")
        rate = {n: statistics.median(r["q_per_s"] for r in rows if r["workers"] == n) for n in (1, 2)}
        print(f"SUMMARY shards: 2 workers {rate[2]:.3f} q/s vs 1 worker {rate[1]:.3f} q/s = {rate[2] / rate[1]:.2f}x "
              f"(one core each, {len(os.sched_getaffinity(0))} CPUs, load {load:.1f} at start, shared machine)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
