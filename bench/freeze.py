"""Freeze and export a snapshot of 40k and 400k accepted chains from PostgreSQL: seconds and peak RSS (issue 15 item 5).

Each measurement runs in a fresh process, so its peak RSS is its own. Two modes per size:

- `snapshot`: the snapshot job itself (`webapp.training.jobs.snapshot_job`): freeze the accepted chains (flags,
  edits, the per-question cap), provenance, and every export file (sft/grpo/baseline/preference JSONL, parquet,
  `hf/`) and the card.
- `copy`: the baseline, the same chain rows read with one psycopg `COPY (SELECT …) TO STDOUT` and written as one
  JSONL with the stdlib's `json.dumps`: the least any export of them could cost.

Flat memory means the snapshot's peak RSS barely grows from 40k to 400k chains. The databases (`export_freeze_40k`,
`export_freeze_400k`) are built once with COPY (bench/rehearsal_db.py's helpers) and kept, keyed by the migrations:
per question four accepted chains, every 10th question a fifth chain rejected as a hallucination, every 50th chain
edited by its curator, every 40th flagged (left out by default), one verdict of record and one review per chain.

    python -m bench.freeze [--pg postgres://postgres@127.0.0.1:5432] [--sizes 40000 400000] [--rebuild]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import psycopg

from bench.rehearsal_db import PY, ROOT, Table, _defer_indexes, _migrate_forward, fingerprint, server_env

logger = logging.getLogger("bench.freeze")

CHAINS_PER_QUESTION = 4
SHAPE = 1  # bump when the rows built change: cached databases then rebuild
SLUG = "export-freeze"
FLAG_RESTATING = 2  # pipeline/flags.py RESTATING: not kept by default, so these chains are left out
TEXT = ("<think>I hear an engine revving near 2 s, then a dog barking twice around {k} s. The revving rises and "
        "falls like a motorbike passing, so it is outdoors; question {q}: the engine dominates.</think>"
        "<answer>{letter}</answer>")


def db_name(n: int) -> str:
    return f"export_freeze_{n // 1000}k" if n % 1000 == 0 else f"export_freeze_{n}"


def _fingerprint(n: int) -> str:
    return f"freeze{SHAPE}:{fingerprint(n)}"


def ensure(pg: str, n: int, rebuild: bool = False) -> str:
    """The URL of a database holding about n accepted chains, built now if missing or stale (new migrations are
    applied to a cached one)."""
    name, url = db_name(n), f"{pg}/{db_name(n)}"
    with psycopg.connect(pg + "/postgres", autocommit=True) as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                           (name,)).fetchone()
        if not rebuild and row is not None and row[0] == _fingerprint(n) and _migrate_forward(url):
            return url
        t0 = time.perf_counter()
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
        env = server_env(url)
        subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
        subprocess.run([PY, "-m", "bench.freeze", "--populate", str(n)], cwd=ROOT, env=env, check=True)
        with psycopg.connect(url, autocommit=True) as db:
            db.execute("VACUUM ANALYZE")
        conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{_fingerprint(n)}'")
    logger.info("%s built in %.0f s", name, time.perf_counter() - t0)
    return url


def populate(n: int) -> None:
    """The rows of an n-chain snapshot's dataset: small ones through the ORM, the big tables with COPY."""
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.utils import timezone

    from webapp.catalog.models import Clip, Dataset, Question
    from webapp.curation.models import Chain, ChainRevision, GenerationRun, Review, Verdict

    now = timezone.now()
    curator = User.objects.create(username="freeze-curator")
    dataset = Dataset.objects.create(name="Freeze bench", slug=SLUG, source_format="avqa")
    teacher = GenerationRun.objects.create(dataset=dataset, kind="teacher", status="succeeded", model="teacher",
                                           backend="vllm", samples_per_question=CHAINS_PER_QUESTION + 1)
    validation = GenerationRun.objects.create(dataset=dataset, kind="validation", source_run=teacher,
                                              status="succeeded", model="yamnet")
    questions = n // CHAINS_PER_QUESTION
    tables = {m: Table(m) for m in (Clip, Question, Chain, Verdict, Review, ChainRevision)}

    def clips() -> Iterator[dict[str, Any]]:
        for i in range(1, questions + 1):
            yield {"id": i, "dataset_id": dataset.pk, "name": f"fz{i:07d}", "kind": "video", "status": "ready",
                   "processed_at": now, "attempt": 1, "media_path": f"video/{i}.mp4", "size_bytes": 1,
                   "audio_path": f"derived/{i % 5000}/{i}.wav", "source_media_id": str(i)}

    def question_rows() -> Iterator[dict[str, Any]]:
        for i in range(1, questions + 1):
            yield {"id": i, "dataset_id": dataset.pk, "clip_id": i, "external_id": str(i),
                   "text": f"What is making the loudest sound in clip {i}?", "choices": ["a dog", "a car", "a bell",
                                                                                           "rain"],
                   "answer_index": i % 4, "answer_text": "x", "question_type": ("Which", "Come From")[i % 2],
                   "question_relation": "Both", "split": "train" if i % 10 else "val", "extra": {},
                   "content_hash": hashlib.md5(str(i).encode()).hexdigest(), "created_at": now}

    def chain_specs() -> Iterator[tuple[int, int, int, bool]]:
        """(chain id, question, sample index, accepted) in id order."""
        cid = 0
        for i in range(1, questions + 1):
            for k in range(CHAINS_PER_QUESTION + (1 if i % 10 == 0 else 0)):
                cid += 1
                yield cid, i, k, k < CHAINS_PER_QUESTION

    def chains() -> Iterator[dict[str, Any]]:
        for cid, i, k, accepted in chain_specs():
            yield {"id": cid, "run_id": teacher.pk, "question_id": i, "sample_index": k,
                   "text": TEXT.format(k=k + 3, q=i, letter="ABCD"[i % 4]), "parsed_answer": i % 4,
                   "is_correct": True, "kept": True, "n_tokens": 80, "created_at": now,
                   "decision": "accepted" if accepted else "rejected", "version": 1, "verdict_id": cid,
                   "flags": FLAG_RESTATING if cid % 40 == 0 else 0, "queue_priority": 0.0}

    def verdicts() -> Iterator[dict[str, Any]]:
        for cid, _i, _k, accepted in chain_specs():
            yield {"id": cid, "chain_id": cid, "run_id": validation.pk, "validator": "sound-events",
                   "validator_version": "yamnet-2024", "label": "pass" if accepted else "fail", "score": 0.8,
                   "claims": [], "created_at": now}

    def reviews() -> Iterator[dict[str, Any]]:
        for cid, _i, _k, accepted in chain_specs():
            edit = accepted and cid % 50 == 0
            yield {"id": cid, "chain_id": cid, "curator_id": curator.pk,
                   "action": "edit" if edit else "accept" if accepted else "reject",
                   "reason": "" if accepted else "hallucinated-sound", "from_decision": "pending",
                   "to_decision": "accepted" if accepted else "rejected", "chain_version": 0,
                   "edited_text": "<think>An engine revs.</think><answer>B</answer>" if edit else "", "created_at": now}

    def revisions() -> Iterator[dict[str, Any]]:
        for cid, _i, _k, accepted in chain_specs():
            if accepted and cid % 50 == 0:
                yield {"id": cid, "review_id": cid, "chain_id": cid,
                       "text": "<think>An engine revs.</think><answer>B</answer>", "parsed_answer": 1,
                       "is_correct": True, "format_ok": True, "created_at": now}

    with psycopg.connect(os.environ["DATABASE_URL"]) as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")  # no FK triggers: the rows are consistent here
        restore = _defer_indexes(cur, [t.name for t in tables.values()])
        for model, rows in ((Clip, clips), (Question, question_rows), (Chain, chains), (Verdict, verdicts),
                            (Review, reviews), (ChainRevision, revisions)):
            t = time.perf_counter()
            logger.info("%d %s rows in %.1f s", tables[model].copy(cur, rows()), tables[model].name,
                        time.perf_counter() - t)
        cur.execute("SET session_replication_role = DEFAULT")
        for statement in restore:
            cur.execute(statement)
        for table in tables.values():
            cur.execute(f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                        f"(SELECT coalesce(max(id), 0) + 1 FROM \"{table.name}\"), false)")
        conn.commit()


# --- measured modes (each in a fresh process) --------------------------------------------------------------------

BASELINE_SQL = """COPY (SELECT c.id, c.question_id, c.text, q.text, q.choices, q.answer_index, q.answer_text, q.split,
  q.question_type, q.question_relation, q.category, k.audio_path
  FROM curation_chain c JOIN catalog_question q ON q.id = c.question_id JOIN catalog_clip k ON k.id = q.clip_id
  WHERE q.dataset_id = (SELECT id FROM catalog_dataset WHERE slug = %s) AND c.decision = 'accepted' AND c.kept
    AND c.flags = 0
  ORDER BY c.question_id, c.sample_index, c.id) TO STDOUT"""
COLUMNS = ("chain_id", "question_id", "text", "question", "choices", "answer_index", "answer_text", "split",
           "question_type", "question_relation", "category", "audio_path")


def _copy(out: str) -> int:
    """The baseline: the chain rows by COPY, one stdlib `json.dumps` a line."""
    n = 0
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn, conn.cursor() as cur, \
            open(os.path.join(out, "plain.jsonl"), "w", encoding="utf-8") as fh:
        with cur.copy(BASELINE_SQL, (SLUG,)) as copy:
            copy.set_types(["int8", "int8", "text", "text", "jsonb", "int4", "text", "text", "text", "text", "text",
                            "text"])
            for row in copy.rows():
                fh.write(json.dumps(dict(zip(COLUMNS, row, strict=True)), ensure_ascii=False) + "\n")
                n += 1
    return n


def _snapshot() -> int:
    """The snapshot job, as a worker runs it, on a new snapshot of the bench dataset."""
    from webapp.catalog.models import Dataset
    from webapp.training.jobs import snapshot_job
    from webapp.training.models import DatasetSnapshot

    dataset = Dataset.objects.get(slug=SLUG)
    DatasetSnapshot.objects.filter(dataset=dataset).delete()
    snapshot = DatasetSnapshot.objects.create(dataset=dataset, version=1, status="queued", attempt=1,
                                              filters={"embed_audio": False, "keep_flagged": []})
    result = snapshot_job(snapshot.pk, 1)
    snapshot.refresh_from_db()
    assert result == "succeeded", (result, snapshot.error)
    return snapshot.chain_count


def _child(mode: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as out:
        os.environ["MEDIA_ROOT"] = out
        if mode == "snapshot":  # set-up and imports are not part of the timing
            import django

            django.setup()
            import datasets  # noqa: F401
            import pyarrow.parquet  # noqa: F401
        t0, c0 = time.perf_counter(), time.process_time()
        chains = _copy(out) if mode == "copy" else _snapshot()
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out) for f in fs)
    return {"mode": mode, "chains": chains, "seconds": seconds, "cpu": cpu, "bytes": size,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _run(mode: str, url: str) -> dict[str, Any]:
    proc = subprocess.run([PY, "-m", "bench.freeze", "--child", mode], cwd=ROOT, env=server_env(url), check=True,
                          capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="server URL, no database")
    parser.add_argument("--sizes", type=int, nargs="+", default=[40_000, 400_000], help="accepted chains")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--populate", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=["copy", "snapshot"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.populate:
        populate(args.populate)
        return 0
    if args.child:
        sys.stdout.write(json.dumps(_child(args.child)) + "\n")
        return 0
    rows = measure(args.pg, args.sizes, args.rebuild)
    sys.stdout.write("\n".join(table(rows)) + "\n")
    small, big = rows[min(rows)], rows[max(rows)]
    sys.stdout.write(
        f"SUMMARY freeze+export {max(rows)} chains {big['snapshot']['seconds']:.0f} s "
        f"({big['snapshot']['seconds'] / big['copy']['seconds']:.1f}x COPY+json), peak RSS "
        f"{small['snapshot']['peak_rss_mb']:.0f} MB at {min(rows)} vs {big['snapshot']['peak_rss_mb']:.0f} MB at "
        f"{max(rows)} (COPY baseline {small['copy']['peak_rss_mb']:.0f} vs {big['copy']['peak_rss_mb']:.0f}); "
        f"load {os.getloadavg()[0]:.1f} (shared)\n")
    return 0


def measure(pg: str, sizes: list[int], rebuild: bool = False) -> dict[int, dict[str, dict[str, Any]]]:
    """{accepted chains: {"copy" | "snapshot": figures}}, each size's database built first if missing."""
    rows = {}
    for n in sizes:
        url = ensure(pg, n, rebuild)
        rows[n] = {mode: _run(mode, url) for mode in ("copy", "snapshot")}
    return rows


def table(rows: dict[int, dict[str, dict[str, Any]]]) -> list[str]:
    lines = [f"{'chains':>8} {'mode':9} {'frozen':>8} {'seconds':>8} {'cpu s':>7} {'vs copy':>8} {'peak MB':>8} "
             f"{'MB out':>7}"]
    for n, modes in rows.items():
        base = modes["copy"]["seconds"]
        for mode, r in modes.items():
            lines.append(f"{n:8d} {mode:9} {r['chains']:8d} {r['seconds']:8.1f} {r['cpu']:7.1f} "
                         f"{r['seconds'] / base:7.2f}x {r['peak_rss_mb']:8.0f} {r['bytes'] / 1e6:7.0f}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
