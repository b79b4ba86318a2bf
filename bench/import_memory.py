"""Annotation import memory vs file size: the streaming reader against the whole-file parse it replaced.

A synthetic AVQA file of N rows is parsed in a fresh subprocess per mode and size, so each peak is that run's own:

- `whole`: as imports did before: the file's bytes, `json.loads` of all of it, then every record kept in a list.
- `stream`: as imports do now: one pass to the end (row count and cap), then the records one at a time, each
  dropped once applied (here: once counted).

The baseline is the same mode at 1/10 the rows, measured in the same run: memory flat in file size means the
10x file's peak stays near the small one's (what still grows is the id and content hash kept per row to tell an
identical repeat from a conflicting one). Python-heap peak is from tracemalloc, in a run of its own (tracing slows
the parse); seconds and peak RSS (which includes the interpreter) come from an untraced run.

    .venv/bin/python -m bench.import_memory [--rows 100000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def write_file(path: Path, n: int) -> None:
    """AVQA rows like the real ones (ids, 4 choices, relation and type), each its own clip, streamed to disk."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write("[")
        for i in range(1, n + 1):
            row = {"id": i, "video_name": f"clip{i:07d}_000010", "video_id": i,
                   "question_text": f"What is the main sound source in the video, number {i}?",
                   "multi_choice": ["slot machine", "television", "car engine", "telephone"], "answer": i % 4,
                   "question_relation": "Both", "question_type": "Come From"}
            fh.write(("," if i > 1 else "") + json.dumps(row))
        fh.write("]")


def _child(mode: str, path: Path, trace: bool) -> dict[str, Any]:
    from pipeline.datasets import FORMATS, iter_rows
    from pipeline.datasets.base import RowStream

    fmt = FORMATS["avqa"]
    if trace:
        tracemalloc.start()
    t0 = time.perf_counter()
    if mode == "whole":
        rows = json.loads(path.read_bytes().decode("utf-8-sig"))
        records = list(RowStream(fmt, iter(rows)))
        n = len(records)
    else:
        with path.open("rb") as fh:
            total = sum(1 for _ in iter_rows(fh))
        with path.open("rb") as fh:
            n = sum(1 for _ in fmt.stream(fh))
        assert n == total
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory() if trace else (0, 0)
    return {"mode": mode, "records": n, "seconds": seconds, "heap_peak_mb": peak / 2**20,
            "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _run(mode: str, path: Path, *, trace: bool = False) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.import_memory", "--child", mode, "--file", str(path)]
    proc = subprocess.run([*command, *(["--trace"] if trace else [])], cwd=ROOT, check=True, capture_output=True,
                          text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _measure(mode: str, path: Path) -> dict[str, Any]:
    """Seconds and RSS untraced, heap peak traced: each from a fresh process."""
    return {**_run(mode, path), "heap_peak_mb": _run(mode, path, trace=True)["heap_peak_mb"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the large file (the baseline: 1/10)")
    parser.add_argument("--child", choices=["whole", "stream"])
    parser.add_argument("--file", type=Path)
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args()
    if args.child:
        sys.stdout.write(json.dumps(_child(args.child, args.file, args.trace)) + "\n")
        return
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {n: Path(tmp) / f"avqa_{n}.json" for n in (args.rows // 10, args.rows)}
        for n, path in sizes.items():
            write_file(path, n)
        results = {(mode, n): _measure(mode, path) for mode in ("whole", "stream") for n, path in sizes.items()}
        megabytes = {n: path.stat().st_size / 2**20 for n, path in sizes.items()}
    small, large = sizes
    lines = [f"{'mode':7} {'rows':>8} {'file MB':>8} {'seconds':>8} {'heap peak MB':>13} {'RSS peak MB':>12}"]
    for (mode, n), r in results.items():
        lines.append(f"{mode:7} {n:8d} {megabytes[n]:8.1f} {r['seconds']:8.2f} {r['heap_peak_mb']:13.1f} "
                     f"{r['rss_peak_mb']:12.0f}")
    sys.stdout.write("\n".join(lines) + "\n")
    peak = {m: (results[(m, small)]["heap_peak_mb"], results[(m, large)]["heap_peak_mb"]) for m in ("whole", "stream")}
    parts = [f"{m} {hi / lo:.1f}x ({(hi - lo) * 2**20 / (large - small):.0f} B/row)" for m, (lo, hi) in peak.items()]
    sys.stdout.write(
        f"SUMMARY file {megabytes[small]:.1f} -> {megabytes[large]:.1f} MB "
        f"({megabytes[large] / megabytes[small]:.1f}x); heap peak growth: {', '.join(parts)}; "
        f"stream peak at {large} rows = {peak['stream'][1] / peak['whole'][1]:.2f}x whole\n")

if __name__ == "__main__":
    main()
