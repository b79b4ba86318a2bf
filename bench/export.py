"""Snapshot export throughput and peak memory: our writers vs plain stdlib JSONL of the same records.

Each mode runs in a fresh subprocess over the same synthetic snapshot records (generated lazily, as the snapshot
job streams them from the database), so peak RSS is that mode's own. Modes:

- `stdlib`: `json.dumps` of each record to one JSONL file — the baseline.
- `sft`: `pipeline.export.write_export` writing sft.jsonl only (TRL conversational rows).
- `all`: every export file in one pass: sft.jsonl, sft_label_only.jsonl, grpo.jsonl, sft.parquet, hf/.

Run from the repo root: `.venv/bin/python -m bench.export [--chains 400000] [--repeat 2]`;
target: `sft` and `all` ≤ 2× the stdlib time.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

THINK = ("I hear a steady engine hum that rises in pitch around two seconds, then a short horn blast; no voices "
         "and no music, so the loudest source is the car. ")


def records(n: int, chains_per_question: int = 4) -> Iterator[dict[str, Any]]:
    for i in range(n):
        q = i // chains_per_question
        yield {"chain_id": i, "question_id": q, "text": f"<think>{THINK}{i}</think><answer>B</answer>",
               "question": f"What is the main sound source in clip {q}?",
               "choices": ["a dog", "a car", "a bell", "rain"], "answer_index": 1, "answer_text": "a car",
               "split": "train" if q % 10 else "val", "question_type": ("Which", "Come From", "Happening")[q % 3],
               "question_relation": "Both", "category": "", "audio_path": f"clips/{q % 5000}/{q}.wav"}


def _child(mode: str, n: int, out: Path) -> dict[str, Any]:
    import datasets  # noqa: F401 - imports are not part of the timing
    import pyarrow.parquet  # noqa: F401

    from pipeline.export import ExportOptions, sft_row, write_export

    t0 = time.perf_counter()
    if mode == "stdlib":  # the same SFT rows, one json.dumps per line into one file
        with (out / "plain.jsonl").open("w", encoding="utf-8") as fh:
            for rec in records(n):
                fh.write(json.dumps(sft_row(rec)) + "\n")
    else:
        formats = ("sft",) if mode == "sft" else ExportOptions().formats
        write_export(records(n), out / "export", ExportOptions(formats=formats))
    seconds = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return {"mode": mode, "seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "bytes": size}


def _run(mode: str, n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-m", "bench.export", "--child", mode, "--chains", str(n), "--out", tmp],
                              cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=400_000)
    parser.add_argument("--child", choices=["stdlib", "sft", "all"])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--repeat", type=int, default=2, help="runs per mode, interleaved; the fastest is kept")
    args = parser.parse_args()
    if args.child:
        sys.stdout.write(json.dumps(_child(args.child, args.chains, args.out)) + "\n")
        return
    import_floor = _run("stdlib", 1)["peak_rss_mb"]
    small = {m: _run(m, args.chains // 4) for m in ("sft", "all")}
    runs: dict[str, list[dict[str, Any]]] = {"stdlib": [], "sft": [], "all": []}
    for _ in range(args.repeat):  # interleaved, so a burst of load on a shared machine hits every mode alike
        for mode in runs:
            runs[mode].append(_run(mode, args.chains))
    rows = {m: min(rs, key=lambda r: r["seconds"]) for m, rs in runs.items()}
    base = rows["stdlib"]["seconds"]
    lines = [f"{'mode':8} {'chains':>8} {'seconds':>8} {'chains/s':>10} {'vs stdlib':>9} {'peak MB':>8} "
             f"{'peak MB @1/4':>12} {'MB out':>7}"]
    for mode, r in rows.items():
        quarter = f"{small[mode]['peak_rss_mb']:12.0f}" if mode in small else f"{'':>12}"
        lines.append(f"{mode:8} {args.chains:8d} {r['seconds']:8.2f} {args.chains / r['seconds']:10.0f} "
                     f"{r['seconds'] / base:8.2f}x {r['peak_rss_mb']:8.0f} {quarter} {r['bytes'] / 1e6:7.0f}")
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.write(
        f"SUMMARY chains={args.chains} stdlib={args.chains / base:.0f}/s "
        f"sft={args.chains / rows['sft']['seconds']:.0f}/s ({rows['sft']['seconds'] / base:.2f}x) "
        f"all_formats={args.chains / rows['all']['seconds']:.0f}/s ({rows['all']['seconds'] / base:.2f}x) "
        f"peak_rss_mb all={rows['all']['peak_rss_mb']:.0f} (at 1/4 the chains {small['all']['peak_rss_mb']:.0f}; "
        f"python+imports floor {import_floor:.0f}) target<=2x\n")


if __name__ == "__main__":
    main()
