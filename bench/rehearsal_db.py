"""A full-size AVQA-shaped database in PostgreSQL for the dress rehearsal (issue 15), built with COPY and cached.

`ensure(pg, n)` returns the URL of `sightsound_rehearsal_<n>`, building it only when missing or stale: the database
comment holds a fingerprint of the data's SHAPE version and n, written last, so a build that died half-way or a new
shape rebuilds. A new migration does not: the cached database is migrated forward (minutes of rebuilding saved for
each schema change; a migration that fails on it, or `--rebuild`, rebuilds).

Building migrates an empty database, makes the few small rows (users, datasets, runs) through the ORM, then writes
the big tables (clips, questions, 8 chains a question, teacher stats, verdicts, reviews, leases) with COPY:
foreign-key triggers off (the rows are made consistent here), secondary indexes and constraints dropped during the
load and rebuilt after it, which is what makes 4M chains a matter of minutes rather than the ORM's hours.

What is built, for n questions:
- dataset `avqa-rehearsal`: n clips (ready; their media, wav, peaks, thumbnail and frames are those of the 10 real
  AVQA fixture clips, ingested once into a cached storage root, clip i using fixture i mod 10), n questions, one
  teacher run (K=8; 6 chains of 8 kept, the two wrong ones dropped), one succeeded validation run whose verdicts
  are the chains' verdicts of record (2 in 3 pass), and the first 10 % of questions decided by cur0 … cur9, one
  review per kept chain (agreeing with the verdict 85 % of the time), spread over the last 30 days;
- dataset `avqa-rehearsal-overlap` (review overlap 2, a blind study under way): n/50 questions, same shape, 60 %
  decided by both cur0 and cur1 (their consensus, or flagged), 10 % open (cur0 decided, cur1 not yet);
- users cur0 … cur63 (curators, password `bench-pw`, as bench.review_load expects) and `rehearsal-admin` (admin).

    python -m bench.rehearsal_db --pg postgres://postgres@127.0.0.1:5432 --questions 50000 [--rebuild]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
FIXTURES = Path(os.environ.get("SIGHTSOUND_FIXTURES", "/work/shared/fixtures/real")) / "avqa_vggsound" / "video"
MEDIA_ROOT = Path(os.environ.get("REHEARSAL_MEDIA_ROOT", Path.home() / ".cache" / "sightsound-rehearsal" / "media"))
K = 8
CURATORS = 64
PASSWORD = "bench-pw"
ADMIN = "rehearsal-admin"
MAIN, OVERLAP = "avqa-rehearsal", "avqa-rehearsal-overlap"
SHAPE = 1  # bump when the rows built change: cached databases then rebuild
logger = logging.getLogger("bench.rehearsal_db")


def db_name(n: int) -> str:
    return f"sightsound_rehearsal_{n // 1000}k" if n % 1000 == 0 else f"sightsound_rehearsal_{n}"


def fingerprint(n: int) -> str:
    """The shape of the data (SHAPE) and the size: a change to either means another database. Migrations are not
    in it: `ensure` applies new ones to the cached database."""
    return "rehearsal-shape:" + hashlib.sha256(f"n={n} shape={SHAPE}".encode()).hexdigest()[:16]


def server_env(url: str) -> dict[str, str]:
    """The environment of a process serving (or building) the rehearsal database, as in production: with a
    reachable Redis (each decision counts itself there; without one every decision took the "queue unreachable"
    path), on a database index of its own ($REHEARSAL_REDIS_URL, default db 15) so the priority refreshes it queues
    reach no real worker."""
    return {**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench-only", "DEBUG": "0", "SECURE_SSL_REDIRECT": "0",
            "SESSION_COOKIE_SECURE": "0", "CSRF_COOKIE_SECURE": "0", "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "webapp.settings", "PYTHONPATH": str(ROOT), "MEDIA_ROOT": str(MEDIA_ROOT),
            "REDIS_URL": os.environ.get("REHEARSAL_REDIS_URL", "redis://127.0.0.1:6379/15")}


def _admin(pg: str) -> psycopg.Connection[Any]:
    return psycopg.connect(pg + "/postgres", autocommit=True)


def cached(pg: str, n: int) -> bool:
    with _admin(pg) as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                           (db_name(n),)).fetchone()
    return row is not None and row[0] == fingerprint(n)


def ensure(pg: str, n: int, rebuild: bool = False) -> str:
    """The URL of a built rehearsal database of n questions, built now if it is missing or stale."""
    name, url = db_name(n), f"{pg}/{db_name(n)}"
    if not rebuild and cached(pg, n):
        if _migrate_forward(url):
            logger.info("%s: cached (%s)", name, fingerprint(n))
            return url
        logger.warning("%s: the new migrations did not apply to the cached database; rebuilding it", name)
    ingest_fixtures()
    t0 = time.perf_counter()
    with _admin(pg) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = server_env(url)
    subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    subprocess.run([PY, "-m", "bench.rehearsal_db", "--populate", str(n)], cwd=ROOT, env=env, check=True)
    with psycopg.connect(url, autocommit=True) as conn:  # as a served database is: analysed, hint bits set
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")
    with _admin(pg) as conn:
        conn.execute(f"COMMENT ON DATABASE \"{name}\" IS '{fingerprint(n)}'")
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(%s))", (name,)).fetchone()
    logger.info("%s built in %.0f s (%s)", name, time.perf_counter() - t0, size[0] if size else "?")
    return url


def _migrate_forward(url: str) -> bool:
    """Apply the migrations the cached database lacks (analysing it again if there were any); False if that failed."""
    env = server_env(url)
    plan = subprocess.run([PY, "manage.py", "migrate", "--plan", "-v", "1"], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    if plan.returncode != 0:
        return False
    if "No planned migration operations." in plan.stdout:
        return True
    t0 = time.perf_counter()
    done = subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env)
    if done.returncode != 0:
        return False
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    logger.info("migrated forward in %.0f s", time.perf_counter() - t0)
    return True


# --- media: the 10 real clips, ingested once ------------------------------------------------------------------


def ingest_fixtures() -> list[dict[str, Any]]:
    """The 10 real AVQA clips symlinked into the cached storage root and processed once; their clip columns."""
    from pipeline.media import process_clip

    manifest = MEDIA_ROOT / "rehearsal.json"
    if manifest.exists():
        return json.loads(manifest.read_text())  # type: ignore[no-any-return]
    rows = []
    for i, src in enumerate(sorted(FIXTURES.glob("*.mp4"))):
        link = MEDIA_ROOT / "video" / src.name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.is_symlink():
            link.symlink_to(src)
        derived = f"derived/fixture{i}"
        art = process_clip(link, MEDIA_ROOT / derived)
        info = art.info
        rows.append({"media_path": f"video/{src.name}", "size_bytes": src.stat().st_size, "duration": info.duration,
                     "fps": info.fps, "width": info.width, "height": info.height,
                     "video_codec": info.video_codec or "", "audio_codec": info.audio_codec or "",
                     "sample_rate": info.sample_rate, "audio_path": f"{derived}/{art.audio}",
                     "peaks_path": f"{derived}/{art.peaks}",
                     "thumbnail_path": f"{derived}/{art.thumbnail}" if art.thumbnail else "",
                     "frame_paths": [f"{derived}/{p}" for p in art.frames], "frame_times": list(art.frame_times)})
    manifest.write_text(json.dumps(rows))
    return rows


# --- COPY ------------------------------------------------------------------------------------------------------


def _tsv(value: Any) -> str:
    """One value in COPY's text format (the generated text never holds a tab, a newline or a backslash)."""
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class Table:
    """A model's table for COPY: its columns, the constant value of each column a row function does not set."""

    def __init__(self, model: Any, fixed: dict[str, Any] | None = None) -> None:
        self.name = model._meta.db_table
        self.columns = [f.column for f in model._meta.concrete_fields]
        self.constants = {}
        for f in model._meta.concrete_fields:  # Django's default: the callable's value, "" for text, else None
            self.constants[f.column] = _tsv(f.get_default())
        self.constants.update({k: _tsv(v) for k, v in (fixed or {}).items()})

    def copy(self, cur: psycopg.Cursor[Any], rows: Iterator[dict[str, Any]]) -> int:
        """COPY the rows (dicts of column → value; missing columns take their constant) in 1 MB writes."""
        n = 0
        with cur.copy(f'COPY "{self.name}" ({", ".join(chr(34) + c + chr(34) for c in self.columns)}) FROM STDIN') \
                as copy:
            buf: list[str] = []
            size = 0
            for row in rows:
                line = "\t".join(_tsv(row[c]) if c in row else self.constants[c] for c in self.columns) + "\n"
                buf.append(line)
                size += len(line)
                n += 1
                if size > 1 << 20:
                    copy.write("".join(buf))
                    buf, size = [], 0
            copy.write("".join(buf))
        return n


def _defer_indexes(cur: psycopg.Cursor[Any], tables: list[str]) -> list[str]:
    """Drop the tables' secondary indexes and non-primary constraints; the statements that put them back."""
    restore: list[str] = []
    for table in tables:
        constraints = cur.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
            "AND contype IN ('u', 'f', 'c')", (table,)).fetchall()
        for name, definition in constraints:
            cur.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
            restore.append(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
        indexes = cur.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)", (table,)).fetchall()
        for name, definition in indexes:
            cur.execute(f'DROP INDEX "{name}"')
            restore.insert(0, definition)  # indexes first: the foreign keys' checks then use them
    return restore


# --- populate (runs with DATABASE_URL set, Django configured) ---------------------------------------------------

CLAIMS = [
    [{"text": "an engine revving", "verdict": "supported", "char_start": 17, "char_end": 34, "spans": [[1.5, 3.0]]},
     {"text": "a dog barking", "verdict": "unsupported", "char_start": 60, "char_end": 73, "spans": []}],
    [{"text": "a bell ringing", "verdict": "supported", "char_start": 12, "char_end": 26, "spans": [[0.5, 2.5]]}],
]
CHOICES = [["a dog", "a car", "a bell", "rain"], ["a violin", "a piano", "a drum", "a flute"],
           ["a crowd", "a bird", "a siren", "wind"]]
TYPES = [("Which", "Both"), ("Come From", "Audio"), ("Happening", "Both"), ("Where", "Visual"), ("Why", "Both")]


def _chain_text(q: int, k: int, answer: int) -> str:
    letter = "ABCD"[answer]
    return (f"<think>I hear an engine revving near 2 s, then a dog barking twice around {k + 3} s. The revving rises "
            f"and falls like a motorbike passing; the barking is distant and echoes, so it is outdoors. Question "
            f"{q}: the sound that dominates the clip is the engine, which matches option {letter}; the other "
            f"choices would sound different (no strings, no rain on a surface).</think><answer>{letter}</answer>")


def populate(n: int) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.db import transaction
    from django.utils import timezone

    from webapp.catalog.models import Clip, Dataset, ImportRun, Question
    from webapp.core.roles import ensure_groups
    from webapp.curation.models import BulkAction, Chain, GenerationRun, Lease, Review, TeacherQuestion, Verdict

    fixtures = ingest_fixtures()
    now = timezone.now()
    t0 = time.perf_counter()
    curators_group, admins_group = ensure_groups()
    password = make_password(PASSWORD)
    users = User.objects.bulk_create([User(username=f"cur{i}", password=password) for i in range(CURATORS)])
    curators_group.user_set.add(*users)
    admin = User.objects.create(username=ADMIN, password=password, is_staff=True, is_superuser=True)
    admins_group.user_set.add(admin)
    cur_ids = [u.pk for u in users]
    with transaction.atomic():
        main = Dataset.objects.create(name="AVQA rehearsal", slug=MAIN, source_format="avqa")
        overlap = Dataset.objects.create(name="AVQA rehearsal (blind study)", slug=OVERLAP, source_format="avqa",
                                         review_overlap=2)
        runs = {}
        for ds in (main, overlap):
            teacher = GenerationRun.objects.create(
                dataset=ds, kind="teacher", status="succeeded", model="Qwen/Qwen2.5-VL-7B-Instruct",
                backend="vllm", samples_per_question=K, prompt_version="v3", started_at=now, finished_at=now,
                sampling={"temperature": 1.0, "top_p": 0.95, "max_new_tokens": 512}, created_by=admin)
            validation = GenerationRun.objects.create(
                dataset=ds, kind="validation", source_run=teacher, status="succeeded", model="yamnet",
                config={"validators": "sound-events"}, started_at=now, finished_at=now, created_by=admin)
            runs[ds.pk] = (teacher, validation)
        ImportRun.objects.create(dataset=main, source_format="avqa", source_name="avqa-train.json", split="train",
                                 status="succeeded", created_count=n, started_at=now, finished_at=now,
                                 created_by=admin)
        BulkAction.objects.create(action="accept", filters={"verdict": "pass"}, expected_count=0, status="succeeded",
                                  started_at=now, finished_at=now, created_by=admin)
    tables = {m: Table(m) for m in (Clip, Question, Chain, TeacherQuestion, Verdict, Review, Lease)}
    names = [t.name for t in tables.values()]
    ids = {"clip": 0, "question": 0, "chain": 0, "verdict": 0, "review": 0, "lease": 0}
    url = os.environ["DATABASE_URL"]
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("SET session_replication_role = replica")  # no FK triggers: the rows are consistent here
        cur.execute("SET maintenance_work_mem = '512MB'")
        restore = _defer_indexes(cur, names)
        for ds, size, decided, open_ in ((main, n, 0.10, 0.0), (overlap, max(200, n // 50), 0.60, 0.10)):
            teacher, validation = runs[ds.pk]
            spec = _Spec(ds.pk, ds.review_overlap, size, teacher.pk, validation.pk, decided, open_, cur_ids, now,
                         fixtures, ids)
            for model, gen in ((Clip, spec.clips), (Question, spec.questions), (TeacherQuestion, spec.stats),
                               (Chain, spec.chains), (Verdict, spec.verdicts), (Review, spec.reviews),
                               (Lease, spec.leases)):
                t = time.perf_counter()
                rows = tables[model].copy(cur, gen())
                logger.info("%s: %d %s rows in %.1f s", ds.slug, rows, tables[model].name, time.perf_counter() - t)
            ids.update(spec.next_ids())
        cur.execute("SET session_replication_role = DEFAULT")
        t = time.perf_counter()
        for statement in restore:
            cur.execute(statement)
        logger.info("indexes and constraints rebuilt in %.1f s", time.perf_counter() - t)
        for table in names:
            cur.execute(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                        f"(SELECT coalesce(max(id), 0) + 1 FROM \"{table}\"), false)")
        conn.commit()
    from webapp.catalog import tallies as catalog_tallies
    from webapp.curation.review import tallies

    t = time.perf_counter()  # COPY in replica mode fired no trigger: the pages' counters are counted once here
    counted = {**catalog_tallies.rebuild(), **tallies.rebuild()}
    logger.info("review tallies counted in %.1f s: %s", time.perf_counter() - t, counted)
    logger.info("populated %d questions (%s) in %.0f s", n, settings.DATABASES["default"]["NAME"],
                time.perf_counter() - t0)


class _Spec:
    """The rows of one dataset, ids assigned here (continuing from `ids`) so that COPY needs no round trip."""

    def __init__(self, dataset_id: int, overlap: int, size: int, teacher: int, validation: int, decided: float,
                 open_: float, curators: list[int], now: datetime, fixtures: list[dict[str, Any]],
                 ids: dict[str, int]) -> None:
        self.dataset_id, self.overlap, self.size = dataset_id, overlap, size
        self.teacher, self.validation, self.curators, self.now, self.fixtures = teacher, validation, curators, now, \
            fixtures
        self.base = dict(ids)
        self.n_decided, self.n_open = int(size * decided), int(size * open_)
        self.review_count = self.lease_count = 0

    def clip_id(self, i: int) -> int:
        return self.base["clip"] + i + 1

    def question_id(self, i: int) -> int:
        return self.base["question"] + i + 1

    def chain_id(self, i: int, k: int) -> int:
        return self.base["chain"] + i * K + k + 1

    @staticmethod
    def answer(i: int) -> int:
        return i % 4

    @staticmethod
    def parsed(i: int, k: int) -> int:
        return (i % 4 + (1 if k in (5, 7) else 0)) % 4

    @staticmethod
    def label(i: int, k: int) -> str:
        return "fail" if (i + k) % 3 == 0 else "pass"

    def clips(self) -> Iterator[dict[str, Any]]:
        for i in range(self.size):
            f = self.fixtures[i % len(self.fixtures)]
            yield {"id": self.clip_id(i), "dataset_id": self.dataset_id, "name": f"rh{self.dataset_id}_{i:07d}",
                   "kind": "video", "status": "ready", "processed_at": self.now, "attempt": 1,
                   "source_media_id": str(i), **f}

    def questions(self) -> Iterator[dict[str, Any]]:
        for i in range(self.size):
            choices = CHOICES[i % len(CHOICES)]
            qtype, relation = TYPES[i % len(TYPES)]
            yield {"id": self.question_id(i), "dataset_id": self.dataset_id, "clip_id": self.clip_id(i),
                   "external_id": str(i), "text": f"What is making the loudest sound in clip {i}?",
                   "choices": choices, "answer_index": self.answer(i), "answer_text": choices[self.answer(i)],
                   "question_type": qtype, "question_relation": relation, "split": "train" if i % 10 else "val",
                   "extra": {}, "content_hash": hashlib.md5(str(i).encode()).hexdigest(), "created_at": self.now}

    def stats(self) -> Iterator[dict[str, Any]]:
        for i in range(self.size):
            yield {"id": self.base["question"] + i + 1, "run_id": self.teacher, "question_id": self.question_id(i),
                   "majority_index": self.answer(i), "majority_text": CHOICES[i % len(CHOICES)][self.answer(i)],
                   "agreement": 0.75, "n_samples": K, "n_parsed": K, "n_correct": K - 2}

    def _decisions(self, i: int, k: int) -> list[tuple[int, str]]:
        """(curator, decision) of the reviews written on kept chain k of question i, in order."""
        if i >= self.n_decided + self.n_open:
            return []
        agree = (i * K + k) % 20 >= 3  # 85 % agree with the verdict
        decision = ("accepted" if self.label(i, k) == "pass" else "rejected") if agree else \
            ("rejected" if self.label(i, k) == "pass" else "accepted")
        if self.overlap == 1:
            return [(self.curators[i % 10], decision)]
        if i >= self.n_decided:  # open: the first curator decided, the second has not
            return [(self.curators[0], decision)]
        other = decision if (i + k) % 5 else ("rejected" if decision == "accepted" else "accepted")
        return [(self.curators[0], decision), (self.curators[1], other)]

    def _state(self, i: int, k: int) -> tuple[str, int]:
        decisions = self._decisions(i, k) if k not in (5, 7) else []
        if not decisions:
            return "pending", 0
        if self.overlap == 1:
            return decisions[0][1], 1
        if len(decisions) < self.overlap:
            return "pending", len(decisions)
        votes = {d for _, d in decisions}
        return (votes.pop() if len(votes) == 1 else "flagged"), len(decisions)

    def chains(self) -> Iterator[dict[str, Any]]:
        for i in range(self.size):
            for k in range(K):
                parsed = self.parsed(i, k)
                decision, version = self._state(i, k)
                yield {"id": self.chain_id(i, k), "run_id": self.teacher, "question_id": self.question_id(i),
                       "sample_index": k, "text": _chain_text(i, k, parsed), "parsed_answer": parsed,
                       "open_answer": "", "is_correct": parsed == self.answer(i), "kept": k not in (5, 7),
                       "drop_reason": "" if k not in (5, 7) else "wrong answer", "n_tokens": 96,
                       "logprob": -0.4 - k / 10, "finish_reason": "stop", "created_at": self.now,
                       "decision": decision, "version": version, "verdict_id": self.chain_id(i, k)}

    def verdicts(self) -> Iterator[dict[str, Any]]:
        for i in range(self.size):
            for k in range(K):
                label = self.label(i, k)
                yield {"id": self.chain_id(i, k), "chain_id": self.chain_id(i, k), "run_id": self.validation,
                       "validator": "sound-events", "validator_version": "yamnet-2024+minilm", "label": label,
                       "score": 0.81 if label == "pass" else 0.22, "claims": CLAIMS[(i + k) % 2],
                       "rationale": "", "raw_output": "", "created_at": self.now}

    def reviews(self) -> Iterator[dict[str, Any]]:
        for i in range(self.n_decided + self.n_open):
            for k in range(K):
                if k in (5, 7):
                    continue
                for version, (curator, decision) in enumerate(self._decisions(i, k)):
                    self.review_count += 1
                    rid = self.base["review"] + self.review_count
                    # Distinct times, as people's are: thousands of reviews of one curator at one instant made
                    # "my newest review" sort them all (an artefact, 15 ms a query at 500k).
                    yield {"id": rid, "chain_id": self.chain_id(i, k),
                           "curator_id": curator, "action": "accept" if decision == "accepted" else "reject",
                           "from_decision": "pending", "to_decision": decision, "chain_version": version,
                           "curator_version": None if self.overlap == 1 else 0,
                           "created_at": self.now - timedelta(days=(i * 7) % 30, minutes=k, seconds=rid % 86400)}

    def leases(self) -> Iterator[dict[str, Any]]:
        """Overlap: a completed lease per curator who decided all of a question's kept chains."""
        if self.overlap == 1:
            return
        for i in range(self.n_decided + self.n_open):
            for slot, (curator, _) in enumerate(self._decisions(i, 0)):
                self.lease_count += 1
                yield {"id": self.base["lease"] + self.lease_count, "question_id": self.question_id(i),
                       "slot": slot, "curator_id": curator, "acquired_at": self.now - timedelta(hours=1),
                       "expires_at": self.now - timedelta(minutes=30), "completed_at": self.now - timedelta(hours=1)}

    def next_ids(self) -> dict[str, int]:
        return {"clip": self.base["clip"] + self.size, "question": self.base["question"] + self.size,
                "chain": self.base["chain"] + self.size * K, "verdict": self.base["chain"] + self.size * K,
                "review": self.base["review"] + self.review_count, "lease": self.base["lease"] + self.lease_count}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432", help="server URL, no database")
    parser.add_argument("--questions", type=int, default=50_000)
    parser.add_argument("--rebuild", action="store_true", help="build even when a cached database matches")
    parser.add_argument("--populate", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.populate:
        populate(args.populate)
        return 0
    print(ensure(args.pg, args.questions, args.rebuild))  # noqa: T201 - the URL, for scripts
    return 0


if __name__ == "__main__":
    sys.exit(main())
