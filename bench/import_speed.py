"""Annotation import speed: rows/s of the JSON-to-database part, on SQLite and PostgreSQL, beside a plain bulk insert.

A synthetic AVQA-shaped file of N rows (each its own clip, as in AVQA: ~57k questions over ~57k clips) is imported
with missing media allowed, so no probing, by `run_import` as the import command does it (the row count pass, the
streamed parse and validation, the writes, the report). Each measurement runs in a fresh process against a fresh
copy of a migrated database, so its peak RSS is its own; the import is also run at N/10 rows to show memory flat
in file size. The baseline, in the same run and on the same database kind, is the plainest way to land the same
rows: `json.load` of the file, then PostgreSQL `COPY` (psycopg) or SQLite `executemany` of clips and questions.

A second measurement imports a few hundred rows WITH media (symlinks to the 10 real AVQA clips under distinct
names): probing, hashing and hard-linking, with one probe thread and with the default pool.

    .venv/bin/python -m bench.import_speed [--rows 57000] [--media-rows 200] [--pg postgres://postgres@127.0.0.1:5432]

`measure_import(database_url, rows)` is the import figure alone, against an existing migrated database (the
rehearsal calls it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench.import_memory import write_file

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT.parent / "shared" / "fixtures" / "real" / "avqa_vggsound" / "video"
TARGET_ROWS_PER_S = 5000


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _setup_django() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    django.setup()


def _child_migrate() -> dict[str, Any]:
    _setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return {}


def _child_import(path: Path, media_dir: Path | None, probe_workers: int | None) -> dict[str, Any]:
    """`run_import` as the command runs it, timed from the first read of the file to the recorded report."""
    _setup_django()
    from webapp.catalog.imports import Importer, get_or_create_dataset, new_import_run, run_import

    dataset = get_or_create_dataset(f"import-speed-{uuid.uuid4().hex[:8]}", "avqa")
    run = new_import_run(dataset, source_name=path.name, split="train", media_dir=media_dir,
                         allow_missing_media=media_dir is None)
    rss_before = _rss_mb()
    t0, cpu0 = time.perf_counter(), time.process_time()
    importer = None
    if probe_workers is None:
        report = run_import(run, path, on_progress=lambda d, t, _m: run.report_progress(d, t))
    else:
        importer = Importer(dataset, split="train", media_dir=media_dir, allow_missing_media=False,
                            **({"probe_workers": probe_workers} if probe_workers else {}))
        report = importer.run(path)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"seconds": seconds, "cpu_s": cpu, "created": report.created, "errors": len(report.errors),
            "rss_before_mb": rss_before, "rss_peak_mb": _rss_mb(),
            "probe_workers": getattr(importer, "probe_workers", None)}


def _child_baseline(path: Path) -> dict[str, Any]:
    """The same rows by the plainest route: stdlib JSON, then one COPY (PostgreSQL) or executemany (SQLite)."""
    _setup_django()
    from django.db import connection, transaction
    from django.utils import timezone

    from webapp.catalog.imports import get_or_create_dataset
    from webapp.catalog.models import Clip, Question

    dataset = get_or_create_dataset(f"baseline-{uuid.uuid4().hex[:8]}", "avqa")
    pg = connection.vendor == "postgresql"
    t0, cpu0 = time.perf_counter(), time.process_time()
    rows = json.loads(path.read_bytes())
    now = timezone.now() if pg else timezone.now().isoformat()
    first = (Clip.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    clip_defaults = {f.attname: f.get_default() for f in Clip._meta.concrete_fields}
    question_defaults = {f.attname: f.get_default() for f in Question._meta.concrete_fields}
    question_defaults.pop("id")

    def clip(i: int, row: dict[str, Any]) -> dict[str, Any]:
        return {**clip_defaults, "id": first + i, "dataset_id": dataset.pk, "name": row["video_name"],
                "kind": "video", "source_media_id": str(row["video_id"]), "status": "missing",
                "error": "media not found at import", "frame_paths": "[]", "frame_times": "[]"}

    def question(i: int, row: dict[str, Any]) -> dict[str, Any]:
        choices = row["multi_choice"]
        return {**question_defaults, "dataset_id": dataset.pk, "clip_id": first + i, "external_id": str(row["id"]),
                "text": row["question_text"], "choices": json.dumps(choices), "answer_index": row["answer"],
                "answer_text": choices[row["answer"]], "question_type": row["question_type"],
                "question_relation": row["question_relation"], "split": "train", "extra": "{}", "created_at": now,
                "content_hash": hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()}

    clips = [clip(i, r) for i, r in enumerate(rows)]
    questions = [question(i, r) for i, r in enumerate(rows)]
    with transaction.atomic(), connection.cursor() as cursor:
        for model, values in ((Clip, clips), (Question, questions)):
            columns = list(values[0])
            table = model._meta.db_table
            if pg:
                with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for v in values:
                        copy.write_row([v[c] for c in columns])
            else:
                cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                                   f"({', '.join('%s' for _ in columns)})", [[v[c] for c in columns] for v in values])
        if pg:
            cursor.execute("SELECT setval(pg_get_serial_sequence('catalog_clip', 'id'), (SELECT max(id) "
                           "FROM catalog_clip))")
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    assert Question.objects.filter(dataset=dataset).count() == len(rows)
    return {"seconds": seconds, "cpu_s": cpu, "created": len(rows), "errors": 0, "rss_peak_mb": _rss_mb()}


def _child(args: list[str], database_url: str, media_root: Path | None = None) -> dict[str, Any]:
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "bench-only", "DEBUG": "0"}
    with tempfile.TemporaryDirectory() as scratch:
        env["MEDIA_ROOT"] = str(media_root or scratch)
        proc = subprocess.run([sys.executable, "-m", "bench.import_speed", "--child", *args], cwd=ROOT,
                              env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"child {args} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _with_rate(result: dict[str, Any], rows: int) -> dict[str, Any]:
    return {**result, "rows": rows, "rows_per_s": rows / result["seconds"]}


def measure_import(database_url: str, rows: int) -> dict[str, Any]:
    """Import a synthetic AVQA file of `rows` rows (media missing allowed) into the migrated database at
    `database_url`, in a fresh process: seconds, rows/s, RSS before and peak, created and error counts."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "avqa.json"
        write_file(path, rows)
        return _with_rate(_child(["import", "--file", str(path)], database_url), rows)


def measure_baseline(database_url: str, rows: int) -> dict[str, Any]:
    """The same rows as `measure_import` by a plain bulk insert (COPY / executemany)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "avqa.json"
        write_file(path, rows)
        return _with_rate(_child(["baseline", "--file", str(path)], database_url), rows)


def measure_media(database_url: str, rows: int, probe_workers: int) -> dict[str, Any]:
    """`rows` rows each pointing at its own symlink to one of the real AVQA clips: probing and storing each, with
    `probe_workers` threads (0: the importer's default)."""
    videos = sorted(CLIPS.glob("*.mp4"))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        media, root = tmp / "links", tmp / "storage"
        media.mkdir()
        for i in range(rows):
            (media / f"clip{i + 1:07d}_000010.mp4").symlink_to(videos[i % len(videos)])
        path = tmp / "avqa.json"
        write_file(path, rows)
        return _with_rate(_child(["import", "--file", str(path), "--media", str(media),
                                  "--probe-workers", str(probe_workers)], database_url, root), rows)


class _Databases:
    """A migrated template per kind, and a fresh copy of it per measurement."""

    def __init__(self, tmp: Path, pg: str | None) -> None:
        self.tmp, self.pg, self.made = tmp, pg.rstrip("/") if pg else None, []
        self.tag = f"bench_import_{os.getpid()}"

    def template(self, kind: str) -> None:
        url = f"{self.pg}/{self.tag}_t" if kind == "pg" else f"sqlite:///{self.tmp / 'template.sqlite3'}"
        if kind == "pg":
            self._psql(f"CREATE DATABASE {self.tag}_t")
            self.made.append(f"{self.tag}_t")
        _child(["migrate"], url)

    def fresh(self, kind: str, name: str) -> str:
        if kind == "pg":
            self._psql(f"CREATE DATABASE {self.tag}_{name} TEMPLATE {self.tag}_t")
            self.made.append(f"{self.tag}_{name}")
            return f"{self.pg}/{self.tag}_{name}"
        target = self.tmp / f"{name}.sqlite3"
        shutil.copyfile(self.tmp / "template.sqlite3", target)
        return f"sqlite:///{target}"

    def drop(self) -> None:
        for name in reversed(self.made):
            self._psql(f"DROP DATABASE IF EXISTS {name}")

    def _psql(self, sql: str) -> None:
        subprocess.run(["psql", f"{self.pg}/postgres", "-q", "-c", sql], check=True, capture_output=True)


def _out(lines: list[str], line: str) -> None:
    """Print as measured (a long run shows its progress), and keep for the summary."""
    lines.append(line)
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=57_000, help="rows of the synthetic file (memory: also 1/10)")
    parser.add_argument("--media-rows", type=int, default=200, help="rows with media (0: skip)")
    parser.add_argument("--pg", help="PostgreSQL server URL (postgres://user@host:port); its own databases")
    parser.add_argument("--child", choices=["migrate", "import", "baseline"])
    parser.add_argument("--file", type=Path)
    parser.add_argument("--media", type=Path)
    parser.add_argument("--probe-workers", type=int)
    args = parser.parse_args()
    if args.child:
        result = (_child_migrate() if args.child == "migrate" else _child_baseline(args.file)
                  if args.child == "baseline" else _child_import(args.file, args.media, args.probe_workers))
        sys.stdout.write(json.dumps(result) + "\n")
        return
    kinds = ["sqlite", *(["pg"] if args.pg else [])]
    lines: list[str] = []
    _out(lines, f"{'db':6} {'measure':22} {'rows':>7} {'seconds':>8} {'rows/s':>8} {'CPU s':>6} {'RSS MB':>14} "
                f"{'ratio':>7}")
    summary = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        dbs = _Databases(tmp, args.pg)
        try:
            for kind in kinds:
                dbs.template(kind)
                base = measure_baseline(dbs.fresh(kind, "base"), args.rows)
                small = measure_import(dbs.fresh(kind, "small"), args.rows // 10)
                full = measure_import(dbs.fresh(kind, "full"), args.rows)
                ratio = full["seconds"] / base["seconds"]
                for label, r, rat in (("baseline (bulk insert)", base, 1.0), ("import 1/10", small, None),
                                      ("import", full, ratio)):
                    rss = f"{r.get('rss_before_mb', 0):.0f}->{r['rss_peak_mb']:.0f}" if "rss_before_mb" in r \
                        else f"{r['rss_peak_mb']:.0f}"
                    _out(lines, f"{kind:6} {label:22} {r['rows']:7d} {r['seconds']:8.2f} {r['rows_per_s']:8.0f} "
                                f"{r['cpu_s']:6.2f} {rss:>14} {'' if rat is None else f'{rat:.2f}x':>7}")
                    assert r["created"] == r["rows"] and r["errors"] == 0, r
                summary.append(f"{kind}: import {full['rows_per_s']:.0f} rows/s (target {TARGET_ROWS_PER_S}; "
                               f"{full['rows'] / full['cpu_s']:.0f} rows per CPU-second of the importing process), "
                               f"{ratio:.2f}x the bulk insert's time ({base['rows_per_s']:.0f} rows/s); peak RSS "
                               f"{small['rss_peak_mb']:.0f} MB at {small['rows']} rows, {full['rss_peak_mb']:.0f} MB "
                               f"at {full['rows']}")
                if args.media_rows:
                    serial = measure_media(dbs.fresh(kind, "m1"), args.media_rows, 1)
                    pooled = measure_media(dbs.fresh(kind, "mp"), args.media_rows, 0)
                    for label, r in (("media, 1 probe thread", serial), ("media, probe pool", pooled)):
                        _out(lines, f"{kind:6} {label:22} {r['rows']:7d} {r['seconds']:8.2f} {r['rows_per_s']:8.0f} "
                                    f"{r['cpu_s']:6.2f} {r['rss_peak_mb']:14.0f} "
                                    f"{serial['seconds'] / r['seconds']:6.2f}x")
                        assert r["created"] == r["rows"] and r["errors"] == 0, r
                    summary.append(f"{kind}: with media {pooled['rows_per_s']:.0f} rows/s with the probe pool "
                                   f"({pooled['probe_workers']} threads), "
                                   f"{serial['rows_per_s']:.0f} with one thread "
                                   f"({serial['seconds'] / pooled['seconds']:.2f}x)")
        finally:
            dbs.drop()
    sys.stdout.write("SUMMARY " + "\nSUMMARY ".join(summary) + "\n")


if __name__ == "__main__":
    main()
